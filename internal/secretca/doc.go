// Package secretca turns a shared secret into a certificate authority
// that every holder of the secret rebuilds on its own, byte for byte: the
// CA's Ed25519 key is derived from the secret with scrypt, and its
// certificate has fixed fields, so peers that share nothing but the secret
// can prove to each other over TLS that they know it, without ever sending
// it. Each peer issues its own short-term certificate from it at start.
//
// The CA certificate is public (it holds no secret); its key is not. A
// certificate issued from the CA lets anyone who obtains it test guesses
// of the secret offline, one scrypt per guess: the secret must be long
// and random.
package secretca
