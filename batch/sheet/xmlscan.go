package sheet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// xmlScanner is a pull tokenizer for the XML parts of a workbook: start
// tags with their attributes, end tags, and text. It is written for
// SpreadsheetML rather than for XML at large, for two reasons. It is
// bounded: one token (a tag, a text run, a comment) may not pass
// Limits.XMLToken bytes, elements may not nest past Limits.XMLDepth, and
// nothing else grows, so a whitespace bomb or a 2 GiB string is refused
// after a megabyte. encoding/xml buffers a token whole, however long. And
// it is fast: tokens are slices of its buffer, decoded only when asked for,
// so a sheet is read at hundreds of MB/s where encoding/xml's RawToken
// reaches about 25.
//
// What it accepts: the XML 1.0 syntax of elements, attributes (quoted),
// character and the five predefined entity references, comments,
// processing instructions and CDATA sections. Prefixes are kept but not
// resolved (SpreadsheetML readers match local names). A DOCTYPE is refused:
// no workbook part has one, and refusing it rules out entity expansion.
// End tags must match their start tags. Text and attribute values must be
// UTF-8 and XML characters; line ends are normalized to '\n' as XML says.
type xmlScanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	eof      bool
	rerr     error
	maxTok   int
	maxDepth int
	// cellChars names the cell length limit when a cell's text is what
	// runs past maxTok.
	cellChars int

	// The current token. Slices point into buf and stay valid until the
	// next call to next.
	qname         []byte // element name as written (start and end tags)
	prefix, local []byte // qname split at its first ':'

	attrs       []xmlAttr
	raw         []byte // text: as written (entities not decoded)
	cdata       bool   // raw is a CDATA section's content
	selfClosing bool   // the start tag was <x/>: its end is the next token

	stack []byte // qualified names of the open elements, concatenated
	marks []int  // where each open element's name starts in stack
	dec   []byte // scratch for decoded text
	bom   bool   // a leading byte-order mark was checked for
}

type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
	tokText
)

type xmlAttr struct {
	name, prefix, local, raw []byte
}

// errXML marks a part that is not well-formed XML: a damaged workbook.
var errXML = errors.New("malformed XML")

const maxNameLen = 1024

func newXMLScanner(r io.Reader, lim Limits) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, 64<<10), maxTok: lim.XMLToken, maxDepth: lim.XMLDepth, cellChars: lim.CellChars}
}

func (s *xmlScanner) depth() int { return len(s.marks) }

func (s *xmlScanner) syntax(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errXML, fmt.Sprintf(format, a...))
}

// more reads more input, keeping the unread bytes. It returns false at the
// end of the input (s.eof) or on an error (s.rerr). A token that does not
// fit in Limits.XMLToken bytes is refused here.
func (s *xmlScanner) more() bool {
	if s.rerr != nil || s.eof {
		return false
	}
	if s.end-s.pos >= s.maxTok {
		s.rerr = s.tokenLimit()
		return false
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.pos = 0
	}
	if s.end == len(s.buf) {
		n := min(2*len(s.buf), s.maxTok+1)
		nb := make([]byte, n)
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			// What came with the error (a limit passed) is not used.
			s.end -= n
			s.rerr = err
			return false
		}
		if n > 0 {
			return true
		}
	}
}

func (s *xmlScanner) tokenLimit() error {
	if s.pos < s.end && s.buf[s.pos] != '<' && len(s.marks) > 0 {
		top := s.top()
		if c := bytes.LastIndexByte(top, ':'); c >= 0 {
			top = top[c+1:]
		}
		if string(top) == "t" || string(top) == "v" {
			// Text inside a cell's value or string: say so, in the cell's terms.
			return limitErr("cell length", int64(s.cellChars), "a cell's text runs over "+size(int64(s.maxTok))+", far over "+thousands(int64(s.cellChars))+" characters")
		}
	}
	return limitErr("XML token size", int64(s.maxTok), "one XML tag or text run is over "+size(int64(s.maxTok))+
		" (a whitespace or text bomb)")
}

// incomplete is what a parse returns when the token runs past the buffer:
// read more and try again, or fail at the end of the input.
func (s *xmlScanner) incomplete() error {
	if s.more() {
		return nil
	}
	if s.rerr != nil {
		return s.rerr
	}
	return s.syntax("unexpected end of the part")
}

// next reads the next token. It returns io.EOF at the end of the input,
// which is an error if elements are still open.
func (s *xmlScanner) next() (tokKind, error) {
	if s.selfClosing {
		s.selfClosing = false
		s.pop()
		return tokEnd, nil
	}
	for {
		if s.pos >= s.end {
			if !s.more() {
				if s.rerr != nil {
					return 0, s.rerr
				}
				if len(s.marks) > 0 {
					return 0, s.syntax("unexpected end of the part inside <%s>", s.top())
				}
				return 0, io.EOF
			}
			continue
		}
		if !s.bom {
			if s.end-s.pos < 3 && !s.eof {
				if !s.more() && s.rerr != nil {
					return 0, s.rerr
				}
				continue
			}
			s.bom = true
			if bytes.HasPrefix(s.buf[s.pos:s.end], []byte("\xef\xbb\xbf")) {
				s.pos += 3
				continue
			}
		}
		if s.buf[s.pos] != '<' {
			i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
			if i < 0 {
				if !s.eof {
					if !s.more() && s.rerr != nil {
						return 0, s.rerr
					}
					continue
				}
				i = s.end - s.pos
			}
			if i > s.maxTok {
				return 0, s.tokenLimit()
			}
			s.raw, s.cdata = s.buf[s.pos:s.pos+i], false
			s.pos += i
			return tokText, nil
		}
		kind, n, err := s.markup(s.buf[s.pos:s.end])
		if err != nil {
			return 0, err
		}
		if n == 0 { // incomplete
			if err := s.incomplete(); err != nil {
				return 0, err
			}
			continue
		}
		if n > s.maxTok {
			return 0, s.tokenLimit()
		}
		s.pos += n
		if kind != 0 {
			return kind, nil
		}
	}
}

// markup parses the tag, comment, PI or CDATA section at the start of b
// (b[0] == '<'). It returns the number of bytes it took, 0 if b ends
// before the markup does, and kind 0 for markup that is skipped.
func (s *xmlScanner) markup(b []byte) (tokKind, int, error) {
	if len(b) < 2 {
		return 0, 0, nil
	}
	switch b[1] {
	case '/':
		j := bytes.IndexByte(b, '>')
		if j < 0 {
			return 0, 0, nil
		}
		name := b[2:j]
		for len(name) > 0 && isSpace(name[len(name)-1]) {
			name = name[:len(name)-1]
		}
		if err := s.checkName(name); err != nil {
			return 0, 0, err
		}
		if len(s.marks) == 0 {
			return 0, 0, s.syntax("end tag </%s> without a start tag", clipBytes(name))
		}
		if top := s.stack[s.marks[len(s.marks)-1]:]; !bytes.Equal(top, name) {
			return 0, 0, s.syntax("end tag </%s> closes <%s>", clipBytes(name), clipBytes(top))
		}
		s.setName(name)
		s.pop()
		return tokEnd, j + 1, nil
	case '?':
		j := bytes.Index(b[2:], []byte("?>"))
		if j < 0 {
			return 0, 0, nil
		}
		return 0, j + 4, nil
	case '!':
		switch {
		case bytes.HasPrefix(b, []byte("<!--")):
			j := bytes.Index(b[4:], []byte("-->"))
			if j < 0 {
				return 0, 0, nil
			}
			return 0, j + 7, nil
		case bytes.HasPrefix(b, []byte("<![CDATA[")):
			j := bytes.Index(b[9:], []byte("]]>"))
			if j < 0 {
				return 0, 0, nil
			}
			s.raw, s.cdata = b[9:9+j], true
			return tokText, j + 12, nil
		case len(b) < 9 && (bytes.HasPrefix([]byte("<![CDATA["), b) || bytes.HasPrefix([]byte("<!--"), b)):
			return 0, 0, nil
		}
		return 0, 0, s.syntax("a DOCTYPE or other declaration, which workbook parts never have")
	}
	return s.startTag(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// startTag parses <name attr="v" ...> or <name .../>.
func (s *xmlScanner) startTag(b []byte) (tokKind, int, error) {
	i := 1
	for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' {
		i++
	}
	if i == len(b) {
		return 0, 0, nil
	}
	name := b[1:i]
	if err := s.checkName(name); err != nil {
		return 0, 0, err
	}
	s.attrs = s.attrs[:0]
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			return 0, 0, nil
		}
		switch b[i] {
		case '>':
			if err := s.push(name); err != nil {
				return 0, 0, err
			}
			return tokStart, i + 1, nil
		case '/':
			if i+1 == len(b) {
				return 0, 0, nil
			}
			if b[i+1] != '>' {
				return 0, 0, s.syntax("'/' inside the tag <%s>", clipBytes(name))
			}
			if err := s.push(name); err != nil {
				return 0, 0, err
			}
			s.selfClosing = true
			return tokStart, i + 2, nil
		}
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != '=' && b[j] != '>' && b[j] != '/' {
			j++
		}
		an := b[i:j]
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return 0, 0, nil
		}
		if b[j] != '=' || len(an) == 0 {
			return 0, 0, s.syntax("attribute without a value in <%s>", clipBytes(name))
		}
		j++
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return 0, 0, nil
		}
		q := b[j]
		if q != '"' && q != '\'' {
			return 0, 0, s.syntax("unquoted attribute value in <%s>", clipBytes(name))
		}
		k := bytes.IndexByte(b[j+1:], q)
		if k < 0 {
			return 0, 0, nil
		}
		v := b[j+1 : j+1+k]
		if bytes.IndexByte(v, '<') >= 0 {
			return 0, 0, s.syntax("'<' in an attribute value of <%s>", clipBytes(name))
		}
		a := xmlAttr{name: an, local: an, raw: v}
		if c := bytes.IndexByte(an, ':'); c >= 0 {
			a.prefix, a.local = an[:c], an[c+1:]
		}
		s.attrs = append(s.attrs, a)
		i = j + 2 + k
	}
}

func (s *xmlScanner) checkName(name []byte) error {
	bad := len(name) == 0 || len(name) > maxNameLen
	for _, c := range name {
		bad = bad || c == '<' || c == '\'' || c == '"' || c == '=' || c == '&'
	}
	if bad {
		return s.syntax("bad element name %q", clipBytes(name))
	}
	return nil
}

func (s *xmlScanner) setName(name []byte) {
	s.qname, s.prefix, s.local = name, nil, name
	if c := bytes.IndexByte(name, ':'); c >= 0 {
		s.prefix, s.local = name[:c], name[c+1:]
	}
}

func (s *xmlScanner) push(name []byte) error {
	if len(s.marks) >= s.maxDepth {
		return limitErr("XML nesting depth", int64(s.maxDepth), fmt.Sprintf("elements nest more than %d deep", s.maxDepth))
	}
	s.setName(name)
	s.marks = append(s.marks, len(s.stack))
	s.stack = append(s.stack, name...)
	return nil
}

func (s *xmlScanner) pop() {
	m := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	s.stack = s.stack[:m]
}

func (s *xmlScanner) top() []byte {
	return s.stack[s.marks[len(s.marks)-1]:]
}

// is reports whether the current element's local name is name.
func (s *xmlScanner) is(name string) bool { return string(s.local) == name }

// attr returns the raw value of the current start tag's attribute with
// this local name (and no prefix unless prefixed is set), and whether it
// is there.
func (s *xmlScanner) attr(local string, prefixed bool) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(a.local) == local && (len(a.prefix) > 0) == prefixed && string(a.prefix) != "xmlns" {
			return a.raw, true
		}
	}
	return nil, false
}

// text decodes the current text token (or an attribute value): entity
// references resolved, line ends normalized, and every character checked
// to be UTF-8 and allowed in XML. The result is valid until the next call
// to next or text.
func (s *xmlScanner) text(raw []byte, cdata bool) ([]byte, error) {
	plain := true
	for _, c := range raw {
		if c < 0x20 || c >= utf8.RuneSelf || (c == '&' && !cdata) {
			plain = false
			break
		}
	}
	if plain {
		return raw, nil
	}
	out := s.dec[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\r':
			out = append(out, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c < 0x20 && c != '\t' && c != '\n':
			return nil, s.syntax("control character U+%04X in the text, which XML does not allow", c)
		case c == '&' && !cdata:
			j := bytes.IndexByte(raw[i:], ';')
			if j < 0 {
				return nil, s.syntax("'&' without an entity reference")
			}
			r, ok := entity(raw[i+1 : i+j])
			if !ok {
				return nil, s.syntax("unknown entity &%s;", clipBytes(raw[i+1:i+j]))
			}
			out = utf8.AppendRune(out, r)
			i += j + 1
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, s.syntax("text that is not valid UTF-8")
			}
			if !xmlChar(r) {
				return nil, s.syntax("character %U, which XML does not allow", r)
			}
			out = append(out, raw[i:i+n]...)
			i += n
		default:
			out = append(out, c)
			i++
		}
	}
	s.dec = out
	return out, nil
}

// entity resolves the name between '&' and ';'.
func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	base, digits := 10, name[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) > 8 {
		return 0, false
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*rune(base) + d
	}
	return r, xmlChar(r)
}

// xmlChar is XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func clipBytes(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
