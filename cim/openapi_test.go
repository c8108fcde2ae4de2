package cim

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/droverha/drover/internal/golden"
)

func init() {
	// Other test files of the package may define -update too.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

// restUpdating is whether the test binary runs with -update.
func restUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

type obj = map[string]any

func nullable(s obj) obj { s["nullable"] = true; return s }

// propertySchema is the JSON schema of a property value.
func propertySchema(p PropertyDecl) obj {
	var s obj
	switch p.Type {
	case TypeString:
		s = obj{"type": "string"}
	case TypeBoolean:
		s = obj{"type": "boolean"}
	case TypeUint16:
		s = obj{"type": "integer", "minimum": 0, "maximum": 65535}
	case TypeUint32:
		s = obj{"type": "integer", "minimum": 0, "maximum": 4294967295}
	case TypeUint64:
		s = obj{"type": "integer", "minimum": 0}
	case TypeSint64:
		s = obj{"type": "integer", "format": "int64"}
	case TypeDatetime:
		s = obj{"type": "string", "format": "date-time"}
	case TypeRef:
		return obj{"$ref": "#/components/schemas/Path"}
	}
	if p.ValueMap != nil {
		vm := obj{}
		for i, c := range p.ValueMap {
			vm[c] = p.Values[i]
		}
		s["x-cim-valueMap"] = vm
	}
	if p.Array {
		s = obj{"type": "array", "items": s}
	}
	if p.Description != "" {
		s["description"] = p.Description
	}
	if !p.Key {
		nullable(s)
	}
	return s
}

func classSchema(c Class) obj {
	props := obj{}
	var names []string
	for _, p := range c.Properties {
		props[p.Name] = propertySchema(p)
		names = append(names, p.Name)
	}
	ps := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(names) > 0 {
		ps["required"] = names
	}
	desc := c.Description
	if c.Super != "" {
		desc = c.Name + " : " + c.Super + ". " + desc
	}
	return obj{"type": "object", "description": desc,
		"required":             []string{"class", "id", "href", "path", "properties"},
		"additionalProperties": false,
		"properties": obj{
			"class":      obj{"type": "string", "enum": []string{c.Name}},
			"id":         obj{"type": "string"},
			"href":       obj{"type": "string"},
			"path":       obj{"$ref": "#/components/schemas/Path"},
			"properties": ps,
		}}
}

// openAPIDocument generates cim/openapi.json from the class model.
func openAPIDocument() obj {
	ref := func(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
	jsonBody := func(desc string, schema obj) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}
	}
	errResp := jsonBody("A CIM error: 400 CIM_ERR_INVALID_PARAMETER, 403 CIM_ERR_ACCESS_DENIED, "+
		"404 CIM_ERR_NOT_FOUND / INVALID_CLASS / INVALID_NAMESPACE / METHOD_NOT_FOUND, 405 (wrong HTTP method), "+
		"413 CIM_ERR_SERVER_LIMITS_EXCEEDED (body over 64 KiB), 500 CIM_ERR_FAILED, 501 CIM_ERR_NOT_SUPPORTED", ref("Error"))
	pathParam := func(name, desc string) obj {
		return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
	}
	nsParam := obj{"name": "namespace", "in": "query", "description": "Only root/drover exists; any other is 404 CIM_ERR_INVALID_NAMESPACE.",
		"schema": obj{"type": "string", "default": Namespace}}
	queryParam := func(name, desc string) obj {
		return obj{"name": name, "in": "query", "description": desc, "schema": obj{"type": "string"}}
	}
	classP := pathParam("class", "A class name (case-insensitive); a superclass gives its subclasses' instances too.")
	idP := pathParam("id", "The instance id (see PathID in docs/cim.md): Name or InstanceID, an association's two ids; "+
		"escaped as one path segment (/ is %2F).")
	op := func(summary string, params []obj, ok obj) obj {
		return obj{"summary": summary, "parameters": params, "responses": obj{"200": ok, "default": errResp}}
	}
	var schemas = obj{
		"Error": obj{"type": "object", "required": []string{"code", "name", "description"}, "additionalProperties": false,
			"properties": obj{"code": obj{"type": "integer"}, "name": obj{"type": "string"}, "description": obj{"type": "string"}}},
		"Path": obj{"type": "object", "required": []string{"namespace", "class", "keys", "id", "href"}, "additionalProperties": false,
			"description": "An object path: namespace, class and key bindings (a reference key is a Path itself).",
			"properties": obj{"namespace": obj{"type": "string"}, "class": obj{"type": "string"},
				"keys": obj{"type": "object", "additionalProperties": true}, "id": obj{"type": "string"}, "href": obj{"type": "string"}}},
		"Reference": obj{"type": "object", "required": []string{"class"}, "nullable": true,
			"description": `A reference in-parameter: {"class": "DRV_Node", "id": "dir2"} or {"class": ..., "keys": {...}}.`,
			"properties": obj{"namespace": obj{"type": "string"}, "class": obj{"type": "string"}, "id": obj{"type": "string"},
				"keys": obj{"type": "object", "additionalProperties": obj{"type": "string"}}}},
		"InstanceList": obj{"type": "object", "required": []string{"namespace", "count", "instances"}, "additionalProperties": false,
			"properties": obj{"namespace": obj{"type": "string"}, "class": obj{"type": "string"}, "count": obj{"type": "integer"},
				"instances": obj{"type": "array", "items": ref("Instance")}}},
		"MethodResult": obj{"type": "object", "required": []string{"ReturnValue", "ReturnValueName", "out"}, "additionalProperties": false,
			"properties": obj{"ReturnValue": obj{"type": "integer", "minimum": 0}, "ReturnValueName": obj{"type": "string"},
				"out": obj{"type": "object", "description": "The out-parameters (RequestStateChange: Job, always null).",
					"properties": obj{"Job": obj{"nullable": true, "allOf": []obj{ref("Path")}}}}}},
		"RequestStateChangeIn": obj{"type": "object", "additionalProperties": false, "required": []string{"RequestedState"},
			"properties": obj{"RequestedState": obj{"type": "integer", "minimum": 0, "maximum": 65535,
				"description": "DRV_Node: 2 Enabled (undrain), 6 Offline or 9 Quiesce (drain); 3, 4, 7, 8, 10, 11 give 4097."},
				"TimeoutPeriod": obj{"type": "string", "nullable": true, "description": "Only a zero interval (or null) is supported."}}},
		"FailoverIn": obj{"type": "object", "additionalProperties": false,
			"properties": obj{"FailoverFrom": ref("Reference"), "FailoverTo": ref("Reference")}},
		"ClassList": obj{"type": "object", "required": []string{"namespace", "classes"},
			"properties": obj{"namespace": obj{"type": "string"}, "classes": obj{"type": "array", "items": ref("ClassDecl")}}},
		"ClassDecl": obj{"type": "object", "required": []string{"name", "properties"},
			"properties": obj{"name": obj{"type": "string"}, "superClass": obj{"type": "string"}, "description": obj{"type": "string"},
				"association": obj{"type": "boolean"},
				"properties": obj{"type": "array", "items": obj{"type": "object", "required": []string{"name", "type"},
					"properties": obj{"name": obj{"type": "string"}, "type": obj{"type": "string"}, "array": obj{"type": "boolean"},
						"key": obj{"type": "boolean"}, "refClass": obj{"type": "string"}, "description": obj{"type": "string"},
						"valueMap": obj{"type": "array", "items": obj{"type": "string"}}, "values": obj{"type": "array", "items": obj{"type": "string"}}}}},
				"methods": obj{"type": "array", "items": obj{"type": "object"}}}},
	}
	var oneOf []obj
	mapping := obj{}
	for _, c := range Classes() {
		schemas[c.Name] = classSchema(c)
		oneOf = append(oneOf, ref(c.Name))
		mapping[c.Name] = "#/components/schemas/" + c.Name
	}
	schemas["Instance"] = obj{"oneOf": oneOf, "discriminator": obj{"propertyName": "class", "mapping": mapping}}
	instances := jsonBody("Instances", ref("InstanceList"))
	paths := obj{
		"/cim/v1/openapi.json": obj{"get": op("This document", nil, jsonBody("The OpenAPI document", obj{"type": "object"}))},
		"/cim/v1/classes":      obj{"get": op("Every class of the model, superclasses first", []obj{nsParam}, jsonBody("Classes", ref("ClassList")))},
		"/cim/v1/classes/{class}": obj{"get": op("One class", []obj{pathParam("class", "A class name"), nsParam},
			jsonBody("The class", ref("ClassList")))},
		"/cim/v1/{class}": obj{"get": op("The instances of a class and its subclasses, filtered", []obj{classP, nsParam,
			{"name": "filter", "in": "query", "style": "form", "explode": true,
				"description": "Any other parameter is a filter: Property=value, equal on the value's string form " +
					"(numbers in decimal, true/false, RFC 3339 datetimes, an array when one element is equal); several are ANDed.",
				"schema": obj{"type": "object", "additionalProperties": obj{"type": "string"}}}}, instances)},
		"/cim/v1/{class}/{id}": obj{"get": op("One instance", []obj{classP, idP, nsParam}, jsonBody("The instance", ref("Instance")))},
		"/cim/v1/{class}/{id}/associators": obj{"get": op("The instances associated with one", []obj{classP, idP, nsParam,
			queryParam("assocClass", "Only through associations of this class (or a subclass)"),
			queryParam("resultClass", "Only results of this class (or a subclass)"),
			queryParam("role", "The role the instance plays (Antecedent, Dependent, Collection, Member, ManagedElement, Stats)"),
			queryParam("resultRole", "The role the result plays")}, instances)},
		"/cim/v1/{class}/{id}/references": obj{"get": op("The associations that refer to one instance", []obj{classP, idP, nsParam,
			queryParam("resultClass", "Only associations of this class (or a subclass)"),
			queryParam("role", "The role the instance plays")}, instances)},
		"/cim/v1/{class}/{id}/{method}": obj{"post": obj{
			"summary": "Invoke a method: DRV_Node and DRV_RealServer RequestStateChange, DRV_VIPRedundancySet Failover. " +
				"Needs an authenticated operator; every call is audited.",
			"parameters": []obj{classP, idP, pathParam("method", "RequestStateChange or Failover"), nsParam},
			"requestBody": obj{"required": false, "description": "The in-parameters, at most 64 KiB",
				"content": obj{"application/json": obj{"schema": obj{"oneOf": []obj{ref("RequestStateChangeIn"), ref("FailoverIn")}}}}},
			"responses": obj{"200": jsonBody("The method ran: its return value and out-parameters", ref("MethodResult")), "default": errResp},
		}},
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "Drover CIM JSON face", "version": "1",
			"description": "Drover's CIM class model (docs/cim.md) over JSON: classes, instances, associations and methods in namespace root/drover. Datetimes are RFC 3339."},
		"paths":      paths,
		"components": obj{"schemas": schemas},
	}
}

// cim/openapi.json is generated from the class model: it must be what the
// model gives now (-update rewrites it).
func TestCIMOpenAPIUpToDate(t *testing.T) {
	b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, restUpdating(), "openapi.json", append(b, '\n'))
	if restUpdating() {
		return
	}
	on, _ := os.ReadFile("openapi.json")
	if string(on) != string(openAPIDoc) {
		t.Error("the embedded openapi.json differs from the file: rebuild")
	}
}
