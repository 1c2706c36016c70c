package ingest

// Reason is a DLQ reason code: why an input message was rejected. Codes are
// stable (dashboards and alerts use them) and never contain input text.
type Reason string

// Reason codes, in the order the checks run.
const (
	ReasonTombstone     Reason = "tombstone"       // a Kafka message with a null value
	ReasonEmpty         Reason = "empty"           // a zero-length value
	ReasonTooLarge      Reason = "too_large"       // more than ingest.max_bytes
	ReasonInvalidUTF8   Reason = "invalid_utf8"    // bytes that are not UTF-8
	ReasonNULByte       Reason = "nul_byte"        // a NUL byte, raw or as a \u0000 escape
	ReasonTooDeep       Reason = "too_deep"        // nesting beyond ingest.max_depth
	ReasonTooManyFields Reason = "too_many_fields" // more JSON values than ingest.max_fields
	ReasonBadJSON       Reason = "bad_json"        // not valid JSON
	ReasonNotObject     Reason = "not_object"      // valid JSON, but not an object
	ReasonDuplicateKey  Reason = "duplicate_key"   // a key repeated in an object the pipeline reads
	ReasonSchema        Reason = "schema_violation"
	ReasonNoIdentifier  Reason = "no_identifier" // none of ingest.identifier_fields is set
	ReasonBadTimestamp  Reason = "bad_timestamp" // a time the pipeline cannot use
	ReasonEpochExpired  Reason = "epoch_expired" // older than the live epochs: its key is gone
	ReasonFuture        Reason = "time_in_future"
)

// Reasons lists every reason code, for metrics and docs.
var Reasons = []Reason{
	ReasonTombstone, ReasonEmpty, ReasonTooLarge, ReasonInvalidUTF8, ReasonNULByte, ReasonTooDeep,
	ReasonTooManyFields, ReasonBadJSON, ReasonNotObject, ReasonDuplicateKey, ReasonSchema,
	ReasonNoIdentifier, ReasonBadTimestamp, ReasonEpochExpired, ReasonFuture,
}

// Rejection says why a message was rejected: a reason code and the rule
// that fired (a limit name or a schema keyword and field path built from
// schema names). It never holds input text, so it is safe to log and to
// write to the DLQ.
type Rejection struct {
	Reason Reason
	Rule   string
}

func (r *Rejection) Error() string {
	if r.Rule == "" {
		return "rejected: " + string(r.Reason)
	}
	return "rejected: " + string(r.Reason) + " (" + r.Rule + ")"
}
