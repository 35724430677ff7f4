// Package auth owns who may call the region: principals (anonymous, user,
// admin, rack, machine), password hashing with argon2id, bearer tokens (API
// keys, machine tokens, rack tokens) of which only a hash is stored, and the
// authorization decision as a pure table of route access × principal kind.
//
// It does not store anything: persistence of users and token hashes is the
// store's (auth declares the small interface it reads through), and the
// per-object rules that need a machine's owner and status (a non-admin sees
// the ready pool and their own machines) are functions here that handlers
// call with what they loaded.
package auth
