// Package scrub finds identifiers in strings and replaces them by typed
// placeholders. It is the pattern half of the privacy promise P1 (no
// identifier value leaves ingest); the rarity gate of P6 catches what patterns
// cannot, such as names and free-form codes.
//
// What is scrubbed (see Kind for the exact forms): e-mail addresses (also
// percent-encoded and obfuscated), phone numbers, IBANs (mod-97), payment card
// numbers (Luhn), Dutch BSNs (11-check), Dutch postcodes with a house number,
// IPv4 and IPv6 addresses, UUIDs, JWTs, long hexadecimal and base64/base64url
// tokens, MAC addresses, long digit runs (customer and order numbers) and
// matches of configured extra patterns.
//
// Entry points, one per kind of input:
//
//   - Scrubber.Text for free text (titles, search terms, free-text
//     properties): each identifier span is replaced by its placeholder
//     ("[email]"), the rest is kept.
//   - Scrubber.Value for a whole value (query parameter value, property
//     value, event or campaign name): if anything is found the whole value is
//     replaced by one placeholder.
//   - Scrubber.Path for URL paths: id-like segments become ":id", ":uuid",
//     ":token", ":email", ... and the path is normalised.
//   - Scrubber.Query for query strings: only allowlisted parameters are kept,
//     their values run through Value.
//   - RegistrableDomain for referrers: only the registrable domain is kept.
//
// Invariant: for every input, the output is valid UTF-8 and contains no
// detected identifier, in raw or percent-decoded form; Value returns either
// its input (with invalid UTF-8 replaced by U+FFFD) or exactly one
// placeholder; Path returns "/" followed by segments that are either
// canonically escaped input text or placeholders, and never contains '?', '#'
// or ';'. Detection is done on the raw string and, when it holds %XX escapes,
// on its percent-decoded form, so "john%40example.com" is found too.
//
// Detection is a hand-written single pass over the bytes with byte-class
// tables; no regular expression runs unless extra patterns are configured.
// Clean input is returned as is, without allocating. A Scrubber is immutable
// after New and safe for concurrent use.
//
// The package only computes: it does no I/O and no logging, and it never puts
// an input value into an error.
package scrub
