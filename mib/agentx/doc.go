// Package agentx speaks the Agent Extensibility protocol, AgentX version 1
// (RFC 2741), from the subagent side: it lets Drover serve its own MIB
// subtrees under a master agent such as net-snmp's snmpd.
//
// The package has two layers. The wire layer (pdu.go, varbind.go, oid.go)
// encodes and decodes every PDU of RFC 2741 §6: it decodes both byte orders
// and always encodes network byte order, decodes every search range of a
// Get, GetNext and GetBulk, and answers malformed input and unknown PDU
// types with an error matching ErrMalformed, never a panic. ReadPDU frames
// PDUs off a stream, reading exactly one header and its payload.
//
// The session layer (session.go) opens an AgentX session over a net.Conn,
// registers subtrees, answers the master's Get, GetNext and GetBulk from a
// Handler (GetBulk per RFC 2741 §7.2.3.3), refuses every Set with
// notWritable, and sends Notify, Ping and Close.
package agentx
