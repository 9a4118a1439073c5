//go:build !prod

package main

// devCommands are the commands that run smaint on services embedded in
// the process (Kafka, the registry, Redis). A production build (-tags
// prod) leaves them, and the embedded services, out.
func devCommands() []command {
	return []command{
		{"bench", "measure the pipeline's throughput, latency, CPU and memory beside a raw Kafka loop", benchCmd},
		{"demo", "run everything on an embedded Kafka and schema registry", demoCmd},
	}
}
