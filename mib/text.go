package mib

import _ "embed"

// Text is DROVER-MIB as it ships: `drover mib` prints it.
//
//go:embed DROVER-MIB.txt
var Text string
