// Package aggregate turns the anonymized event stream into persona figures.
//
// The pure part lives here and in aggregate/model: visitor features, persona
// rules and the pre-aggregation of a batch into one Delta. The Store
// interface is the state store contract (figures, visitor state and the
// applied position per partition, written atomically); memory and Redis
// implementations satisfy it and aggregate/storetest checks both.
package aggregate
