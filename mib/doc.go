// Package mib is Drover's SNMP face: DROVER-MIB (DROVER-MIB.txt, SMIv2,
// RFC 2578, 2579 and 2580), the OID tree built from the cluster view, and
// the ways it is served (the AgentX subagent in package agentx, RFC 2741).
//
// DROVER-MIB.txt is the one copy of the MIB: `drover mib` prints it and
// the tests lint it with smilint and render it with snmptranslate (see
// docs/snmp.md). It is registered under the placeholder enterprise number
// 99999, which is not Drover's; its OIDs move when a Private Enterprise
// Number is registered.
package mib
