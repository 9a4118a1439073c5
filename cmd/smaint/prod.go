//go:build prod

package main

// devCommands: a production build has neither demo nor bench, so that
// the binary carries no embedded broker, registry, Redis or plotting.
func devCommands() []command { return nil }
