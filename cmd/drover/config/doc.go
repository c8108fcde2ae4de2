// Package config turns the agent's configuration file, DROVER_ environment
// variables and command-line flags into a typed, validated Config.
//
// Precedence is flags > environment > file > defaults. Viper reads the file
// (YAML, TOML or JSON, chosen by extension) and layers the sources; this
// package does the typed conversion itself, because viper converts garbage
// to zero values without a word ("fast" becomes a 0s heartbeat).
//
// Validation reports every problem at once, each as one line naming where
// the value came from: "FILE:LINE" for YAML (line numbers come from a
// yaml.Node walk of the same bytes viper decoded), "FILE" for TOML and
// JSON, "env DROVER_X", "flag --x" or "default". docs/config.md lists the
// keys.
//
// Validation is not only of the text: the VIP groups this node is a
// candidate for are checked against this host's interfaces
// (Options.Interfaces), so a file is valid for the host it is loaded on.
//
// Services (IPVS virtual services) decode into model.VirtualService with
// every default filled in, so that no consumer needs to know one; a real
// server's check is the service's with the real server's keys put over
// it. They are checked as IPVS and the manager will take them: ports
// that dr cannot change, families only tunnel can mix, a quorum the
// weights can reach.
//
// SNMP takes names as indexes: DROVER-MIB's rows are indexed by a hash of
// the name of the node, VIP group or service, so two names of a kind that
// hash alike are refused. Communities and passphrases are secrets: no
// problem prints one, and Config.Redacted hides them for printing.
package config
