package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Single-object encoding names the writer schema by the CRC-64-AVRO
// (Rabin) fingerprint of its Parsing Canonical Form, as the Avro
// specification defines it ("Parsing Canonical Form for Schemas"): only
// the attributes that matter for parsing (type, name, fields, symbols,
// items, values, size), full names, and every primitive in its simple
// form ("long", not {"type":"long","logicalType":"timestamp-micros"}).
// That is the fingerprint smaint writes.
//
// Two other forms are in use, and readers accept values framed with
// either: goavro's, which earlier smaint versions wrote (it collapses a
// primitive with a logicalType only for strings), and that of the Python
// avro library up to 1.11 (Debian's python3-avro), which never collapses a
// primitive written as an object.

// canonicalForm returns the Parsing Canonical Form of the schema text. With
// keepObjects, a primitive written as an object stays one, stripped to
// {"type":"..."}, as the Python avro library (1.11) writes it.
func canonicalForm(text string, keepObjects bool) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return "", fmt.Errorf("schemas: canonical form: %w", err)
	}
	c := canon{keep: keepObjects}
	if err := c.schema(v, ""); err != nil {
		return "", fmt.Errorf("schemas: canonical form: %w", err)
	}
	return c.b.String(), nil
}

type canon struct {
	b    strings.Builder
	keep bool
}

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true}

// schema writes v, a schema in the namespace ns.
func (c *canon) schema(v any, ns string) error {
	switch s := v.(type) {
	case string:
		c.str(fullName(s, "", ns))
		return nil
	case []any: // a union
		c.b.WriteByte('[')
		for i, branch := range s {
			if i > 0 {
				c.b.WriteByte(',')
			}
			if err := c.schema(branch, ns); err != nil {
				return err
			}
		}
		c.b.WriteByte(']')
		return nil
	case map[string]any:
		return c.object(s, ns)
	default:
		return fmt.Errorf("unexpected %T in a schema", v)
	}
}

func (c *canon) object(s map[string]any, ns string) error {
	t, ok := s["type"].(string)
	if !ok {
		return fmt.Errorf("a schema object without a type name")
	}
	named := func() string {
		name, _ := s["name"].(string)
		own, _ := s["namespace"].(string)
		full := fullName(name, own, ns)
		c.b.WriteString(`{"name":`)
		c.str(full)
		c.b.WriteString(`,"type":`)
		c.str(t)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			return full[:i]
		}
		return ""
	}
	switch t {
	case "record", "error":
		inner := named()
		c.b.WriteString(`,"fields":[`)
		fields, _ := s["fields"].([]any)
		for i, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return fmt.Errorf("a field that is not an object")
			}
			if i > 0 {
				c.b.WriteByte(',')
			}
			name, _ := fm["name"].(string)
			c.b.WriteString(`{"name":`)
			c.str(name)
			c.b.WriteString(`,"type":`)
			if err := c.schema(fm["type"], inner); err != nil {
				return err
			}
			c.b.WriteByte('}')
		}
		c.b.WriteString("]}")
	case "enum":
		named()
		c.b.WriteString(`,"symbols":[`)
		syms, _ := s["symbols"].([]any)
		for i, sym := range syms {
			if i > 0 {
				c.b.WriteByte(',')
			}
			name, _ := sym.(string)
			c.str(name)
		}
		c.b.WriteString("]}")
	case "array", "map":
		attr := map[string]string{"array": "items", "map": "values"}[t]
		c.b.WriteString(`{"type":`)
		c.str(t)
		c.b.WriteString(`,"` + attr + `":`)
		if err := c.schema(s[attr], ns); err != nil {
			return err
		}
		c.b.WriteByte('}')
	case "fixed":
		named()
		size, _ := s["size"].(float64)
		fmt.Fprintf(&c.b, `,"size":%d}`, int64(size))
	default:
		if primitives[t] && c.keep {
			c.b.WriteString(`{"type":`)
			c.str(t)
			c.b.WriteByte('}')
			return nil
		}
		c.str(fullName(t, "", ns))
	}
	return nil
}

// str writes s as a JSON string, escaping only what JSON requires.
func (c *canon) str(s string) {
	b, _ := json.Marshal(s)
	c.b.Write(b)
}

// fullName is name in full: as it is if it has a dot or is a primitive,
// else in its own namespace, else in the enclosing one.
func fullName(name, own, enclosing string) string {
	switch {
	case primitives[name] || strings.Contains(name, "."):
		return name
	case own != "":
		return own + "." + name
	case enclosing != "":
		return enclosing + "." + name
	}
	return name
}

// rabinEmpty is CRC-64-AVRO's initial value (the fingerprint of nothing).
const rabinEmpty = 0xc15d213aa4d7a795

var rabinTable = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (rabinEmpty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

// rabin is the CRC-64-AVRO fingerprint of b.
func rabin(b string) uint64 {
	fp := uint64(rabinEmpty)
	for i := 0; i < len(b); i++ {
		fp = (fp >> 8) ^ rabinTable[byte(fp)^b[i]]
	}
	return fp
}
