package schemas

import "fmt"

// SubjectStrategy is how a topic's value schema is named in the registry,
// as Confluent's serializers name it.
type SubjectStrategy int

const (
	// TopicName: "<topic>-value" (Confluent's TopicNameStrategy, the
	// default everywhere): one record type per topic.
	TopicName SubjectStrategy = iota
	// RecordName: the record's full name, "io.smaint.v1.SensorReading"
	// (RecordNameStrategy): one subject per record type, whatever topic.
	RecordName
	// TopicRecordName: "<topic>-<full record name>"
	// (TopicRecordNameStrategy).
	TopicRecordName
)

var strategyNames = []string{"topic", "record", "topic-record"}

// ParseSubjectStrategy reads "topic", "record" or "topic-record".
func ParseSubjectStrategy(s string) (SubjectStrategy, error) {
	for i, n := range strategyNames {
		if s == n {
			return SubjectStrategy(i), nil
		}
	}
	return 0, fmt.Errorf("subject strategy %q: want topic, record or topic-record", s)
}

func (s SubjectStrategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("SubjectStrategy(%d)", int(s))
}

// Subject is the registry subject of values of schema sc on topic.
func (s SubjectStrategy) Subject(topic string, sc *Schema) string {
	switch s {
	case RecordName:
		return sc.Name()
	case TopicRecordName:
		return topic + "-" + sc.Name()
	}
	return topic + "-value"
}
