// Package deploy holds smaint's deployment files (Dockerfile, Docker
// Compose, Kubernetes manifests) and a test that checks them statically
// against the flags of the real smaint binary. It has no code.
package deploy
