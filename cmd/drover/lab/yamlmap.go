package lab

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// omap is a YAML mapping that keeps its keys in the order they were set,
// so that generated files read top-down the way a person would write them.
type omap []kv

type kv struct {
	k string
	v any
}

// index finds key, matched without regard to case as drover's
// configuration matches keys.
func (m omap) index(key string) int {
	for i := range m {
		if strings.EqualFold(m[i].k, key) {
			return i
		}
	}
	return -1
}

func (m *omap) set(key string, v any) {
	if i := m.index(key); i >= 0 {
		(*m)[i].v = v
		return
	}
	*m = append(*m, kv{key, v})
}

// lookup follows path through nested mappings.
func (m omap) lookup(path ...string) (any, bool) {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(omap)
		if !ok {
			return nil, false
		}
		i := mm.index(k)
		if i < 0 {
			return nil, false
		}
		cur = mm[i].v
	}
	return cur, true
}

// merge lays src over m: mappings are merged key by key, any other value
// (lists included) replaces what was there, and a null value removes the
// key. New keys are appended in src's order. src's values are taken, not
// copied: pass a fresh overlay.
func (m *omap) merge(src omap) {
	for _, e := range src {
		i := m.index(e.k)
		switch {
		case e.v == nil:
			if i >= 0 {
				*m = slices.Delete(*m, i, i+1)
			}
		case i >= 0:
			dst, dok := (*m)[i].v.(omap)
			sm, sok := e.v.(omap)
			if dok && sok {
				dst.merge(sm)
				(*m)[i].v = dst
			} else {
				(*m)[i].v = e.v
			}
		default:
			*m = append(*m, e)
		}
	}
}

// ordered copies v, turning its maps into omaps with sorted keys.
func ordered(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(omap, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			m = append(m, kv{k, ordered(x[k])})
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = ordered(x[i])
		}
		return out
	default:
		return v
	}
}

// fromNode is what n holds, its mappings as omaps in the file's order.
func fromNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := omap{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m.set(n.Content[i].Value, v)
		}
		return m, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		var v any
		err := n.Decode(&v)
		return v, err
	}
}

// node renders v as a YAML node, keeping omap order.
func node(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case omap:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, e := range x {
			val, err := node(e.v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.k, err)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e.k}, val)
		}
		return n, nil
	case map[string]any:
		return node(ordered(x))
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, e := range x {
			val, err := node(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	default:
		n := &yaml.Node{}
		if err := n.Encode(x); err != nil {
			return nil, err
		}
		return n, nil
	}
}

// marshal renders an omap as a YAML document headed by comment.
func marshal(m omap, comment string) ([]byte, error) {
	n, err := node(m)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: comment, Content: []*yaml.Node{n}}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
