// Package interop holds the tests that run smaint with clients we did not
// write: Python's confluent-kafka (librdkafka, with its own default
// partitioner) and the Avro reference library, through the example
// scripts in deploy/clients. They run the smaint binary on bench/plant's
// in-process cluster. make test runs them; .ci/services installs the
// Debian packages they need.
package interop
