package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlLines maps the key paths of a YAML document to their lines: mapping
// keys as "bus.cluster.listen" (lower-cased, as viper has them) and list
// items as "bus.cluster.peers[1]" and "bus.cluster.peers[1].name". Aliases
// and merge keys are not followed; what comes from them gets the line of
// the key that refers to them (see lineOf).
func yamlLines(data []byte) map[string]int {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil
	}
	lines := map[string]int{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(prefix, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind != yaml.ScalarNode || k.Value == "<<" {
					continue
				}
				path := join(prefix, strings.ToLower(k.Value))
				if _, seen := lines[path]; !seen {
					lines[path] = k.Line
				}
				walk(path, v)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				path := fmt.Sprintf("%s[%d]", prefix, i)
				lines[path] = c.Line
				walk(path, c)
			}
		}
	}
	walk("", &doc)
	return lines
}

// lineOf is the line of key in the YAML file, or of its nearest ancestor
// that has one; 0 if none does or the file is not YAML.
func (l *loader) lineOf(key string) int {
	for key != "" {
		if line, ok := l.lines[key]; ok {
			return line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
