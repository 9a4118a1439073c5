// Package faults is the fault suite: its tests run the smaint binary
// against a Kafka cluster in the test process, break something (kill -9
// at random points, a broker restart, lost acknowledgements, Redis or
// PostgreSQL going away, a rebalance mid-window, oversized records), and
// then require of the outputs, with smaint audit, no reading lost, no
// output duplicated and no window counting a reading twice, and that the
// outputs equal those of an uninterrupted run over the same input.
//
// The plant the tests run on is bench/plant's.
//
// make test runs the short variants. SMAINT_FAULTS_LONG=1 runs the long
// ones: the 400,000-reading run with 10 kills, and more kills in each.
package faults
