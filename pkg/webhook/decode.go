package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// decodeMilvus reads a Milvus into its view in one pass over raw. It fills
// what the view holds and skips every other field, checking only that it is
// JSON, without allocating. A production Milvus is mostly fields the view
// does not hold (resources, dependency values, config, status details), so
// this is several times faster than encoding/json, which builds what it then
// drops.
//
// What it fills equals what encoding/json fills into milvus.Milvus, metadata
// included; only a managed-fields entry's fieldsV1 shares raw's bytes instead
// of copying them. It reports false, leaving out partly filled, on anything
// it does not read exactly as encoding/json would: invalid JSON, a type
// mismatch, a key that matches a field only case-insensitively, nesting
// deeper than encoding/json allows. The caller then decodes with
// encoding/json, whose answer (or error) is the reference. FuzzDecodeMilvus
// holds the two equal; TestDecodeMilvusKnowsEveryField fails when the view
// gains a field this does not read.
//
// long, when not nil, carries long strings from one decode to the next: the
// old object of an UPDATE mostly repeats the new one's last-applied
// annotation, and then takes it without reading it again.
func decodeMilvus(raw []byte, out *milvus.Milvus, long *longStrings) bool {
	r := reader{data: raw, long: long}
	r.object(func(key []byte) {
		switch string(key) {
		case "apiVersion":
			r.str(&out.APIVersion)
		case "kind":
			r.str(&out.Kind)
		case "metadata":
			r.objectMeta(&out.ObjectMeta)
		case "spec":
			r.spec(&out.Spec)
		case "status":
			r.object(func(key []byte) {
				switch string(key) {
				case "currentImage":
					r.str(&out.Status.CurrentImage)
				case "currentVersion":
					r.str(&out.Status.CurrentVersion)
				case "status":
					r.str(&out.Status.Health)
				default:
					r.other(key, statusFields)
				}
			})
		default:
			r.other(key, topFields)
		}
	})
	r.ws()
	return !r.bad && r.i == len(r.data)
}

// The JSON names of each level of milvus.Milvus: a key that equals one of
// them only case-insensitively is one encoding/json would decode.
var (
	topFields        = []string{"apiVersion", "kind", "metadata", "spec", "status"}
	statusFields     = []string{"currentImage", "currentVersion", "status"}
	specFields       = []string{"mode", "components", "dependencies"}
	dependencyFields = []string{"msgStreamType"}
	componentFields  = []string{"image", "version"}
	componentsFields = []string{"image", "version", "imageUpdateMode", "enableRollingUpdate",
		"proxy", "queryNode", "dataNode", "indexNode", "streamingNode", "mixCoord",
		"rootCoord", "dataCoord", "queryCoord", "indexCoord", "standalone", "cdc"}
	objectMetaFields = []string{"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
		"generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
		"labels", "annotations", "ownerReferences", "finalizers", "managedFields"}
	managedFieldsFields = []string{"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"}
)

func (r *reader) spec(s *milvus.MilvusSpec) {
	r.object(func(key []byte) {
		switch string(key) {
		case "mode":
			r.str(&s.Mode)
		case "components":
			r.components(&s.Components)
		case "dependencies":
			r.object(func(key []byte) {
				if string(key) == "msgStreamType" {
					r.str(&s.Dependencies.MsgStreamType)
				} else {
					r.other(key, dependencyFields)
				}
			})
		default:
			r.other(key, specFields)
		}
	})
}

func (r *reader) components(c *milvus.Components) {
	r.object(func(key []byte) {
		var block **milvus.Component
		switch string(key) {
		case "image":
			r.str(&c.Image)
		case "version":
			r.str(&c.Version)
		case "imageUpdateMode":
			r.str(&c.ImageUpdateMode)
		case "enableRollingUpdate":
			r.boolPtr(&c.EnableRollingUpdate)
		case "proxy":
			block = &c.Proxy
		case "queryNode":
			block = &c.QueryNode
		case "dataNode":
			block = &c.DataNode
		case "indexNode":
			block = &c.IndexNode
		case "streamingNode":
			block = &c.StreamingNode
		case "mixCoord":
			block = &c.MixCoord
		case "rootCoord":
			block = &c.RootCoord
		case "dataCoord":
			block = &c.DataCoord
		case "queryCoord":
			block = &c.QueryCoord
		case "indexCoord":
			block = &c.IndexCoord
		case "standalone":
			block = &c.Standalone
		case "cdc":
			block = &c.CDC
		default:
			r.other(key, componentsFields)
		}
		if block != nil {
			r.component(block)
		}
	})
}

// component reads a pointer to a component block: null makes it nil, an
// object fills it (allocated if nil).
func (r *reader) component(p **milvus.Component) {
	r.ws()
	if r.null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = &milvus.Component{}
	}
	c := *p
	r.object(func(key []byte) {
		switch string(key) {
		case "image":
			r.str(&c.Image)
		case "version":
			r.str(&c.Version)
		default:
			r.other(key, componentFields)
		}
	})
}

// objectMeta reads metadata whole, as encoding/json reads it into
// metav1.ObjectMeta: the API server has checked it, so only its size (the
// managed fields, the last-applied annotation) costs anything.
func (r *reader) objectMeta(m *metav1.ObjectMeta) {
	r.object(func(key []byte) {
		switch string(key) {
		case "name":
			r.str(&m.Name)
		case "generateName":
			r.str(&m.GenerateName)
		case "namespace":
			r.str(&m.Namespace)
		case "selfLink":
			r.str(&m.SelfLink)
		case "uid":
			strAs(r, &m.UID)
		case "resourceVersion":
			r.str(&m.ResourceVersion)
		case "generation":
			r.int64(&m.Generation)
		case "creationTimestamp":
			r.time(&m.CreationTimestamp)
		case "deletionTimestamp":
			r.timePtr(&m.DeletionTimestamp)
		case "deletionGracePeriodSeconds":
			r.ws()
			if r.null() {
				m.DeletionGracePeriodSeconds = nil
				return
			}
			if m.DeletionGracePeriodSeconds == nil {
				m.DeletionGracePeriodSeconds = new(int64)
			}
			r.int64(m.DeletionGracePeriodSeconds)
		case "labels":
			r.stringMap(&m.Labels)
		case "annotations":
			r.stringMap(&m.Annotations)
		case "finalizers":
			r.strings(&m.Finalizers)
		case "ownerReferences":
			// Rare on a Milvus: encoding/json reads it, in place as it
			// would have.
			if raw := r.value(); !r.bad && json.Unmarshal(raw, &m.OwnerReferences) != nil {
				r.fail()
			}
		case "managedFields":
			r.managedFields(&m.ManagedFields)
		default:
			r.other(key, objectMetaFields)
		}
	})
}

// managedFields reads the entries into *p as encoding/json would: into the
// existing elements, the slice cut to the array's length.
func (r *reader) managedFields(p *[]metav1.ManagedFieldsEntry) {
	entries := *p
	n := 0
	isNull := r.slice(func() {
		if n == len(entries) {
			if entries == nil {
				entries = make([]metav1.ManagedFieldsEntry, 0, 4) // one per manager, a few managers
			}
			entries = append(entries, metav1.ManagedFieldsEntry{})
		}
		e := &entries[n]
		n++
		r.object(func(key []byte) {
			switch string(key) {
			case "manager":
				r.str(&e.Manager)
			case "operation":
				strAs(r, &e.Operation)
			case "apiVersion":
				r.str(&e.APIVersion)
			case "time":
				r.timePtr(&e.Time)
			case "fieldsType":
				r.str(&e.FieldsType)
			case "fieldsV1":
				r.ws()
				if r.null() {
					e.FieldsV1 = nil
					return
				}
				raw := r.value()
				if e.FieldsV1 == nil {
					e.FieldsV1 = &metav1.FieldsV1{}
				}
				e.FieldsV1.Raw = raw
			case "subresource":
				r.str(&e.Subresource)
			default:
				r.other(key, managedFieldsFields)
			}
		})
	})
	*p = sliceResult(entries, n, isNull)
}

// strings reads an array of strings into *p as encoding/json would.
func (r *reader) strings(p *[]string) {
	items := *p
	n := 0
	isNull := r.slice(func() {
		if n == len(items) {
			items = append(items, "")
		}
		r.str(&items[n])
		n++
	})
	*p = sliceResult(items, n, isNull)
}

// slice reads an array, calling elem for each element, and reports whether
// it was null.
func (r *reader) slice(elem func()) (isNull bool) {
	if r.bad {
		return false
	}
	r.ws()
	if r.null() {
		return true
	}
	if r.peek() != '[' {
		r.fail()
		return false
	}
	r.array(elem)
	return false
}

// sliceResult is what encoding/json leaves of a slice it decoded n elements
// into: nil for null, an empty slice for [], else the first n.
func sliceResult[T any](s []T, n int, isNull bool) []T {
	switch {
	case isNull:
		return nil
	case s == nil:
		return []T{}
	}
	return s[:n]
}

// maxSkipDepth keeps what reader accepts within encoding/json's nesting
// limit of 10000, counting the levels of the view above a skipped value.
const maxSkipDepth = 10000 - 16

// reader is a JSON reader over one document. Every method consumes one
// value (or marks the document bad and stops); none allocates but to store
// what the view keeps.
type reader struct {
	data  []byte
	i     int
	bad   bool
	stack []byte // open containers while skipping
	long  *longStrings
}

// longStrings are strings of at least minLongString bytes a reader stored,
// with their tokens. A string token is self-delimiting: the same bytes at
// the start of a value are the same string.
type longStrings []longString

type longString struct {
	tok []byte
	s   string
}

const minLongString = 256

func (r *reader) fail() { r.bad = true }

func (r *reader) ws() {
	for r.i < len(r.data) {
		switch r.data[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) peek() byte {
	if r.i < len(r.data) {
		return r.data[r.i]
	}
	return 0
}

// consume takes c if it is next.
func (r *reader) consume(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

// null takes a null literal if it is next.
func (r *reader) null() bool {
	if bytes.HasPrefix(r.data[r.i:], []byte("null")) {
		r.i += 4
		return true
	}
	return false
}

// object reads an object, calling member for each key with the reader at
// its value; member must consume the value. A null is no object: nothing
// is called. Anything else fails.
func (r *reader) object(member func(key []byte)) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		return
	}
	if !r.consume('{') {
		r.fail()
		return
	}
	r.ws()
	if r.consume('}') {
		return
	}
	for !r.bad {
		key := r.key()
		r.ws()
		if !r.consume(':') {
			r.fail()
			return
		}
		if r.bad {
			return
		}
		member(key)
		r.ws()
		if r.consume(',') {
			r.ws()
			continue
		}
		if !r.consume('}') {
			r.fail()
		}
		return
	}
}

// array reads an array (or null), calling elem with the reader at each
// element; elem must consume it.
func (r *reader) array(elem func()) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		return
	}
	if !r.consume('[') {
		r.fail()
		return
	}
	r.ws()
	if r.consume(']') {
		return
	}
	for !r.bad {
		elem()
		r.ws()
		if r.consume(',') {
			continue
		}
		if !r.consume(']') {
			r.fail()
		}
		return
	}
}

// key reads an object key. One with escapes or beyond ASCII is unquoted as
// encoding/json does (a new slice).
func (r *reader) key() []byte {
	start, escaped, ascii := r.stringToken()
	if r.bad {
		return nil
	}
	tok := r.data[start:r.i]
	if !escaped && ascii {
		return tok[1 : len(tok)-1]
	}
	return []byte(r.text(tok, escaped, ascii))
}

// other skips the value of a key the view does not hold, failing when
// encoding/json would take the key for one of fields (it matches names
// case-insensitively).
func (r *reader) other(key []byte, fields []string) {
	ascii := isASCII(key)
	for _, f := range fields {
		// The fields are ASCII: an ASCII key can only fold to one as long.
		if (len(f) == len(key) || !ascii) && bytes.EqualFold(key, []byte(f)) {
			r.fail()
			return
		}
	}
	r.skip()
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// strAs reads a string into a string type (types.UID, an operation) as str
// reads it into a string.
func strAs[T ~string](r *reader, dst *T) {
	var s string
	if r.str(&s) {
		*dst = T(s)
	}
}

// value skips a value, checking that it is JSON, and returns its bytes
// (nil when it is not): they are r's data, and cannot be appended to.
func (r *reader) value() []byte {
	r.ws()
	start := r.i
	r.skip()
	if r.bad {
		return nil
	}
	return r.data[start:r.i:r.i]
}

// str reads a string into *dst (nil: only checks it); null leaves *dst as
// it is, as encoding/json does. It reports whether it set *dst.
func (r *reader) str(dst *string) bool {
	if r.bad {
		return false
	}
	r.ws()
	if r.null() {
		return false
	}
	if dst != nil && r.long != nil {
		for _, l := range *r.long {
			if bytes.HasPrefix(r.data[r.i:], l.tok) {
				*dst = l.s
				r.i += len(l.tok)
				return true
			}
		}
	}
	start, escaped, ascii := r.stringToken()
	if r.bad || dst == nil {
		return false
	}
	tok := r.data[start:r.i]
	*dst = r.text(tok, escaped, ascii)
	if r.long != nil && len(tok) >= minLongString && !r.bad {
		*r.long = append(*r.long, longString{tok: tok, s: *dst})
	}
	return !r.bad
}

// text is the string a string token stands for. Escapes in valid UTF-8 are
// undone here; anything else (invalid UTF-8, a UTF-16 surrogate) is left to
// encoding/json's own unquoting, which replaces what is invalid by U+FFFD.
func (r *reader) text(tok []byte, escaped, ascii bool) string {
	content := tok[1 : len(tok)-1]
	switch {
	case !escaped && ascii:
		return intern(content)
	case !ascii && !utf8.Valid(content):
	case !escaped:
		return string(content)
	default:
		if s, ok := unescape(content); ok {
			return s
		}
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		r.fail()
	}
	return s
}

// unescape undoes the escapes of a string token's content (valid UTF-8,
// escapes checked by stringToken); false on a surrogate escape.
func unescape(content []byte) (string, bool) {
	// Eight bytes at a time, written before they are checked (buf has room
	// to spare): kubectl's last-applied annotation, the longest string a
	// Milvus carries, escapes a quote every few bytes.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	buf := make([]byte, len(content)+8)
	r, w := 0, 0
	for r < len(content) {
		if r+8 <= len(content) {
			x := binary.LittleEndian.Uint64(content[r:])
			binary.LittleEndian.PutUint64(buf[w:], x)
			y := x ^ (ones * '\\')
			m := (y - ones) &^ y & highs
			if m == 0 {
				r, w = r+8, w+8
				continue
			}
			n := bits.TrailingZeros64(m) / 8
			r, w = r+n, w+n
		}
		c := content[r]
		if c != '\\' {
			buf[w] = c
			r, w = r+1, w+1
			continue
		}
		c = content[r+1]
		r += 2
		switch c {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			var rr rune
			for _, h := range content[r : r+4] {
				rr = rr<<4 | rune(unhex(h))
			}
			if utf16.IsSurrogate(rr) {
				return "", false
			}
			w += utf8.EncodeRune(buf[w:], rr) // at most 3 bytes for the 6 read
			r += 4
			continue
		} // '"', '\\' and '/' stand for themselves
		buf[w] = c
		w++
	}
	// buf is this string's alone from here on, as in strings.Builder.
	return unsafe.String(unsafe.SliceData(buf), w), true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// intern returns the strings every Milvus repeats without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "milvus.io/v1beta1":
		return "milvus.io/v1beta1"
	case "Milvus":
		return "Milvus"
	case "Update":
		return "Update"
	case "Apply":
		return "Apply"
	case "FieldsV1":
		return "FieldsV1"
	case "status":
		return "status"
	case "rollingUpgrade":
		return "rollingUpgrade"
	case "cluster":
		return "cluster"
	}
	return string(b)
}

// plain marks the bytes a string token holds as they are: ASCII, neither
// a control character, a quote nor a backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// special flags (high bit of each byte) the bytes of x, eight bytes of a
// string token, that are not plain: below 0x20, a quote, a backslash or
// beyond ASCII. A flag may also be set on a byte after a flagged one, never
// on one before: the lowest flag is exact.
func special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - ones*0x20) &^ x
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	return (below | (quote-ones)&^quote | (backslash-ones)&^backslash | x) & highs
}

// stringToken reads a JSON string token, reporting where it starts (at the
// quote) and whether it holds escapes or bytes beyond ASCII.
func (r *reader) stringToken() (start int, escaped, ascii bool) {
	start, ascii = r.i, true
	if !r.consume('"') {
		r.fail()
		return start, false, false
	}
	data := r.data
	for i := r.i; i < len(data); {
		// Eight bytes at a time while none is special.
		for i+8 <= len(data) {
			if s := special(binary.LittleEndian.Uint64(data[i:])); s != 0 {
				i += bits.TrailingZeros64(s) / 8
				break
			}
			i += 8
		}
		if i == len(data) {
			break
		}
		c := data[i]
		switch {
		case plain[c]:
			i++
		case c == '"':
			r.i = i + 1
			return start, escaped, ascii
		case c == '\\':
			escaped = true
			i++
			if i == len(data) {
				r.fail()
				return start, false, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(data) || !isHex(data[i+1:i+5]) {
					r.fail()
					return start, false, false
				}
				i += 5
			default:
				r.fail()
				return start, false, false
			}
		case c < 0x20:
			r.fail()
			return start, false, false
		default: // beyond ASCII
			ascii = false
			i++
		}
	}
	r.fail()
	return start, false, false
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// boolPtr reads a boolean into *p (allocated if nil); null makes it nil.
func (r *reader) boolPtr(p **bool) {
	if r.bad {
		return
	}
	r.ws()
	var v bool
	switch {
	case r.null():
		*p = nil
		return
	case bytes.HasPrefix(r.data[r.i:], []byte("true")):
		r.i += 4
		v = true
	case bytes.HasPrefix(r.data[r.i:], []byte("false")):
		r.i += 5
	default:
		r.fail()
		return
	}
	if *p == nil {
		*p = new(bool)
	}
	**p = v
}

// stringMap reads an object of strings into *dst (nil: only checks it), as
// encoding/json into a map[string]string: into the existing map, null
// values as "", a null object as a nil map.
func (r *reader) stringMap(dst *map[string]string) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		if dst != nil {
			*dst = nil
		}
		return
	}
	if dst != nil && *dst == nil {
		*dst = map[string]string{}
	}
	r.object(func(key []byte) {
		if dst == nil {
			r.str(nil)
			return
		}
		var v string
		r.str(&v)
		(*dst)[string(key)] = v
	})
}

// int64 reads an integer that fits an int64 into *dst; null leaves it.
func (r *reader) int64(dst *int64) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		return
	}
	start := r.i
	r.number()
	if r.bad {
		return
	}
	tok := r.data[start:r.i]
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	var n uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			r.fail() // a fraction or exponent: not an int64
			return
		}
		if n > (1<<64-1)/10 {
			r.fail()
			return
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n <= 1<<63-1:
		*dst = int64(n)
	case neg && n <= 1<<63:
		*dst = -int64(n-1) - 1
	default:
		r.fail()
	}
}

// time reads a metav1.Time as its UnmarshalJSON does: null is the zero
// time, a string is RFC 3339, in the local zone.
func (r *reader) time(dst *metav1.Time) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		*dst = metav1.Time{}
		return
	}
	var s string
	if !r.str(&s) {
		r.fail()
		return
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		r.fail()
		return
	}
	dst.Time = t.Local()
}

// timePtr reads a *metav1.Time: null makes it nil.
func (r *reader) timePtr(p **metav1.Time) {
	if r.bad {
		return
	}
	r.ws()
	if r.null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = &metav1.Time{}
	}
	r.time(*p)
}

// number reads a number token as JSON defines it.
func (r *reader) number() {
	r.consume('-')
	switch c := r.peek(); {
	case c == '0':
		r.i++
	case '1' <= c && c <= '9':
		r.digits()
	default:
		r.fail()
		return
	}
	if r.consume('.') {
		if !r.digits() {
			r.fail()
			return
		}
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if !r.digits() {
			r.fail()
		}
	}
}

func (r *reader) digits() bool {
	start := r.i
	for r.i < len(r.data) && '0' <= r.data[r.i] && r.data[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// skip reads any value, checking that it is JSON, without recursion. Most
// of an object is skipped, so this works on local copies of the reader's
// state.
func (r *reader) skip() {
	if r.bad {
		return
	}
	data, i, stack := r.data, r.i, r.stack[:0]
	i = r.skipFrom(data, i, &stack)
	r.stack = stack
	if i < 0 {
		r.fail()
		return
	}
	r.i = i
}

// skipFrom skips the value at data[i:], returning where it ends, or -1.
func (r *reader) skipFrom(data []byte, i int, stack *[]byte) int {
	for {
		// A value.
		i = skipWS(data, i)
		if i >= len(data) {
			return -1
		}
		switch c := data[i]; {
		case c == '"':
			if i = skipString(data, i+1); i < 0 {
				return -1
			}
		case c == '{' || c == '[':
			i = skipWS(data, i+1)
			if i < len(data) && data[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				i++
				break
			}
			if len(*stack) == maxSkipDepth {
				return -1
			}
			*stack = append(*stack, c)
			if c == '{' {
				if i = skipKey(data, i); i < 0 {
					return -1
				}
			}
			continue
		case c == 't':
			if i = skipLiteral(data, i, "true"); i < 0 {
				return -1
			}
		case c == 'f':
			if i = skipLiteral(data, i, "false"); i < 0 {
				return -1
			}
		case c == 'n':
			if i = skipLiteral(data, i, "null"); i < 0 {
				return -1
			}
		case c == '-' || '0' <= c && c <= '9':
			n := reader{data: data, i: i}
			if n.number(); n.bad {
				return -1
			}
			i = n.i
		default:
			return -1
		}
		// After a value: close what ends here, or go on to the next element.
		for {
			if len(*stack) == 0 {
				return i
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return -1
			}
			open := (*stack)[len(*stack)-1]
			if data[i] == ',' {
				i++
				if open == '{' {
					if i = skipKey(data, skipWS(data, i)); i < 0 {
						return -1
					}
				}
				break
			}
			if data[i] != open+2 {
				return -1
			}
			i++
			*stack = (*stack)[:len(*stack)-1]
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipKey skips a key and its colon at data[i:], returning where its value
// starts, or -1.
func skipKey(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = skipString(data, i+1); i < 0 {
		return -1
	}
	i = skipWS(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return i + 1
}

// skipString skips the rest of a string whose opening quote is before
// data[i], returning where it ends, or -1 when it is not a valid string.
func skipString(data []byte, i int) int {
	for {
		// Eight bytes at a time while none is a quote, a backslash or a
		// control character.
		for i+8 <= len(data) {
			if s := special(binary.LittleEndian.Uint64(data[i:])) &^ binary.LittleEndian.Uint64(data[i:]); s != 0 {
				i += bits.TrailingZeros64(s) / 8
				break
			}
			i += 8
		}
		if i >= len(data) {
			return -1
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2:i+6]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
}

func skipLiteral(data []byte, i int, lit string) int {
	if !bytes.HasPrefix(data[i:], []byte(lit)) {
		return -1
	}
	return i + len(lit)
}
