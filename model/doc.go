// Package model holds Drover's domain vocabulary (nodes and their states)
// and the cluster view: the one read model that the CLI, SNMP, CIM and
// metrics all show. No face keeps its own copy of the truth; each renders
// a View.
package model
