// Package pipeline runs typed stages between Kafka topics.
//
// A Runner owns one franz-go client in its own consumer group. It polls a
// batch of records, decodes each once into the stage's input type (values
// that do not decode go to the dead-letter topic), hands the batch to the
// stage's Process, encodes what the stage emitted, and produces it keyed as
// the stage chose. An input offset is committed only after every record
// produced from its batch, dead letters included, has been acknowledged by
// the brokers, so a crash replays rather than loses. Batches are pipelined:
// the next poll starts while the previous batch's records are in flight, up
// to a bounded number of batches; beyond that, polling blocks.
//
// Stages see Go structs (package schemas) and never Kafka types: bytes exist
// only inside this package.
package pipeline
