// Package interop holds the tests of smaint among software it does not
// own: clients we did not write (Python's confluent-kafka, that is
// librdkafka with its own default partitioner, and the Avro reference
// library, through the example scripts in deploy/clients) and other
// deployments on the same cluster. They run the smaint binary on
// bench/plant's in-process cluster. make test runs them; .ci/services installs the
// Debian packages they need.
package interop
