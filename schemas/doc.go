// Package schemas holds the wire formats of Personas: the JSON Schema
// (draft 2020-12) files under v1/, examples under examples/, and the Go types
// that encode and decode them.
//
// The schema files are the contract with the teams that read the topics;
// the Go types mirror them field for field, and tests check every example and
// every encoded Go value against its schema. Raw input is validated with
// santhosh-tekuri/jsonschema at the ingest boundary.
//
// Versioning: a schema's $id ends in /v1 and its documents carry a "schema"
// field ("personas.event/v1", ...). A change that can break a reader gets a
// new version, a new file and a new topic suffix; additions that readers may
// ignore stay within v1.
package schemas
