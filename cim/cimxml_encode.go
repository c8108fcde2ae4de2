package cim

import (
	"bufio"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// xmlWriter renders DSP0201 elements into a buffer. It writes by hand
// rather than through xml.Encoder because enumerations of ten thousand
// instances are the common large response and reflection would dominate.
type xmlWriter struct {
	*bufio.Writer
	host string // HOST of NAMESPACEPATH in references: the request's Host
}

// text writes s escaped for element content or a quoted attribute, with
// the five named entities only (SBLIM's wbemcli decodes no numeric
// references but these); characters XML 1.0 cannot carry become U+FFFD.
func (w *xmlWriter) text(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '<' || c == '>' || c == '&' || c == '"' || c == '\'' {
			w.escape(s)
			return
		}
	}
	w.WriteString(s)
}

func (w *xmlWriter) escape(s string) {
	for _, r := range s {
		switch {
		case r == '<':
			w.WriteString("&lt;")
		case r == '>':
			w.WriteString("&gt;")
		case r == '&':
			w.WriteString("&amp;")
		case r == '"':
			w.WriteString("&quot;")
		case r == '\'':
			w.WriteString("&apos;")
		case r == '\t', r == '\n', r == '\r':
			// References, so that attributes keep them too.
			fmt.Fprintf(w, "&#%d;", r)
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			w.WriteRune(utf8.RuneError)
		default:
			// An invalid byte decodes to RuneError, which is written as
			// itself: valid XML.
			w.WriteRune(r)
		}
	}
}

// open writes <name a1="v1" ...>; attrs alternate names and values, and
// an attribute whose value is "" is left out.
func (w *xmlWriter) open(name string, attrs ...string) {
	w.start(name, attrs)
	w.WriteByte('>')
}

// empty writes <name .../>.
func (w *xmlWriter) empty(name string, attrs ...string) {
	w.start(name, attrs)
	w.WriteString("/>")
}

func (w *xmlWriter) start(name string, attrs []string) {
	w.WriteByte('<')
	w.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			continue
		}
		w.WriteByte(' ')
		w.WriteString(attrs[i])
		w.WriteString(`="`)
		w.text(attrs[i+1])
		w.WriteByte('"')
	}
}

func (w *xmlWriter) close(name string) {
	w.WriteString("</")
	w.WriteString(name)
	w.WriteByte('>')
}

// leaf writes <name attrs>text</name>.
func (w *xmlWriter) leaf(name, text string, attrs ...string) {
	w.open(name, attrs...)
	w.text(text)
	w.close(name)
}

// localNamespacePath writes LOCALNAMESPACEPATH for ns ("" is Namespace).
func (w *xmlWriter) localNamespacePath(ns string) {
	if ns == "" {
		ns = Namespace
	}
	w.open("LOCALNAMESPACEPATH")
	for part := range strings.SplitSeq(ns, "/") {
		w.empty("NAMESPACE", "NAME", part)
	}
	w.close("LOCALNAMESPACEPATH")
}

// instancePath writes INSTANCEPATH: NAMESPACEPATH (HOST, namespace) and
// INSTANCENAME.
func (w *xmlWriter) instancePath(p ObjectPath) {
	w.open("INSTANCEPATH")
	w.open("NAMESPACEPATH")
	w.leaf("HOST", w.host)
	w.localNamespacePath(p.Namespace)
	w.close("NAMESPACEPATH")
	w.instanceName(p)
	w.close("INSTANCEPATH")
}

// valueReference writes VALUE.REFERENCE holding a full INSTANCEPATH, so a
// client can follow it without knowing which server it came from.
func (w *xmlWriter) valueReference(p ObjectPath) {
	w.open("VALUE.REFERENCE")
	w.instancePath(p)
	w.close("VALUE.REFERENCE")
}

// instanceName writes INSTANCENAME with one KEYBINDING per key.
func (w *xmlWriter) instanceName(p ObjectPath) {
	w.open("INSTANCENAME", "CLASSNAME", p.Class)
	for _, k := range p.Keys {
		w.open("KEYBINDING", "NAME", k.Name)
		switch v := k.Value.(type) {
		case ObjectPath:
			w.valueReference(v)
		case *ObjectPath:
			if v != nil {
				w.valueReference(*v)
			}
		default:
			typ := typeOf(v)
			vt := "numeric"
			switch typ {
			case TypeString, TypeDatetime, "":
				vt = "string"
			case TypeBoolean:
				vt = "boolean"
			}
			s, _ := scalarText(v)
			w.leaf("KEYVALUE", s, "VALUETYPE", vt)
		}
		w.close("KEYBINDING")
	}
	w.close("INSTANCENAME")
}

// scalarText renders a non-reference scalar value as VALUE text. ok is
// false for nil.
func scalarText(v Value) (s string, ok bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case bool:
		if v {
			return "TRUE", true
		}
		return "FALSE", true
	case uint8:
		return strconv.FormatUint(uint64(v), 10), true
	case uint16:
		return strconv.FormatUint(uint64(v), 10), true
	case uint32:
		return strconv.FormatUint(uint64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case uint:
		return strconv.FormatUint(uint64(v), 10), true
	case int8:
		return strconv.FormatInt(int64(v), 10), true
	case int16:
		return strconv.FormatInt(int64(v), 10), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.FormatInt(int64(v), 10), true
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case time.Time:
		return formatDatetime(v), true
	case time.Duration:
		return formatInterval(v), true
	case fmt.Stringer:
		return v.String(), true
	}
	return fmt.Sprint(v), true
}

// formatDatetime renders t as a CIM timestamp in UTC:
// yyyymmddHHMMSS.mmmmmm+000 (DSP0004 5.2.4).
func formatDatetime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%04d%02d%02d%02d%02d%02d.%06d+000",
		t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
}

// formatInterval renders d as a CIM interval ddddddddHHMMSS.mmmmmm:000.
func formatInterval(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	us := d.Microseconds()
	days := us / (24 * 3600 * 1e6)
	us -= days * 24 * 3600 * 1e6
	h, m, s := us/3600e6, us/60e6%60, us/1e6%60
	return fmt.Sprintf("%08d%02d%02d%02d.%06d:000", days, h, m, s, us%1e6)
}

// typeOf infers the CIM type of a value whose property is not declared.
func typeOf(v Value) string {
	switch v.(type) {
	case string:
		return TypeString
	case bool:
		return TypeBoolean
	case uint8:
		return "uint8"
	case uint16:
		return TypeUint16
	case uint32:
		return TypeUint32
	case uint64, uint:
		return TypeUint64
	case int8:
		return "sint8"
	case int16:
		return "sint16"
	case int32:
		return "sint32"
	case int64, int:
		return TypeSint64
	case float32:
		return "real32"
	case float64:
		return "real64"
	case time.Time, time.Duration:
		return TypeDatetime
	case ObjectPath, *ObjectPath:
		return TypeRef
	}
	if v != nil {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Len() > 0 {
			return typeOf(rv.Index(0).Interface())
		}
	}
	return TypeString
}

// elements returns the elements of an array value (nil when v is not a
// slice).
func elements(v Value) ([]Value, bool) {
	switch v := v.(type) {
	case []Value:
		return v, true
	case []string:
		out := make([]Value, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out, true
	case []byte:
		// uint8[]; never a string.
		out := make([]Value, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if v == nil || rv.Kind() != reflect.Slice {
		return nil, false
	}
	out := make([]Value, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// value writes the VALUE, VALUE.ARRAY, VALUE.REFARRAY or VALUE.REFERENCE
// of a non-nil value.
func (w *xmlWriter) value(v Value) {
	switch p := v.(type) {
	case ObjectPath:
		w.valueReference(p)
		return
	case *ObjectPath:
		if p != nil {
			w.valueReference(*p)
		}
		return
	case time.Time, string:
	default:
		if elems, ok := elements(v); ok {
			w.array(elems)
			return
		}
	}
	s, _ := scalarText(v)
	w.leaf("VALUE", s)
}

func (w *xmlWriter) array(elems []Value) {
	refs := len(elems) > 0 && typeOf(elems[0]) == TypeRef
	if refs {
		w.open("VALUE.REFARRAY")
	} else {
		w.open("VALUE.ARRAY")
	}
	for _, e := range elems {
		switch {
		case e == nil:
			w.empty("VALUE.NULL")
		case refs:
			if p, ok := e.(ObjectPath); ok {
				w.valueReference(p)
			} else {
				w.empty("VALUE.NULL")
			}
		default:
			s, _ := scalarText(e)
			w.leaf("VALUE", s)
		}
	}
	if refs {
		w.close("VALUE.REFARRAY")
	} else {
		w.close("VALUE.ARRAY")
	}
}

// errorElement writes ERROR for err: an *Error's code and description,
// anything else as CIM_ERR_FAILED.
func (w *xmlWriter) errorElement(e *Error) {
	w.empty("ERROR", "CODE", strconv.Itoa(e.Code), "DESCRIPTION", e.Description)
}
