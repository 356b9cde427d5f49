// Package ids generates and recognises the identifiers podid hands out in
// AWS's formats: IAM unique IDs (AROA…, ANPA…, AIDA…), access key IDs and
// secret access keys, EKS pod identity association IDs, add-on ARN suffixes
// and UUIDs.
//
// Every generator draws from crypto/rand. IAM unique IDs and access key IDs
// use the RFC 4648 base32 alphabet (A–Z and 2–7), which is the alphabet
// AWS's own IDs use (AWS access key IDs decode as base32). Each random
// character is taken from 5 bits of a random byte, so every character of
// the alphabet is equally likely.
package ids

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// Prefixes of IAM unique IDs and access key IDs.
const (
	PrefixRole             = "AROA" // role unique ID
	PrefixPolicy           = "ANPA" // managed policy unique ID
	PrefixUser             = "AIDA" // user unique ID
	PrefixAccessKey        = "AKIA" // long-term access key ID
	PrefixSessionAccessKey = "ASIA" // temporary (session) access key ID
	PrefixAssociation      = "a-"   // EKS pod identity association ID
)

// Lengths of the identifiers, prefix included.
const (
	UniqueIDLen        = 21 // AROA/ANPA/AIDA + 17
	AccessKeyIDLen     = 20 // AKIA/ASIA + 16
	SecretAccessKeyLen = 40
	AssociationIDLen   = 19 // "a-" + 17
	UUIDLen            = 36
)

const (
	base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lowerAlnum     = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// NewRoleID returns a role unique ID: "AROA" and 17 base32 characters.
func NewRoleID() string { return randomBase32(PrefixRole, UniqueIDLen-len(PrefixRole)) }

// NewPolicyID returns a managed policy unique ID: "ANPA" and 17 base32 characters.
func NewPolicyID() string { return randomBase32(PrefixPolicy, UniqueIDLen-len(PrefixPolicy)) }

// NewUserID returns a user unique ID: "AIDA" and 17 base32 characters.
func NewUserID() string { return randomBase32(PrefixUser, UniqueIDLen-len(PrefixUser)) }

// NewAccessKeyID returns a long-term access key ID: "AKIA" and 16 base32
// characters (20 in all).
func NewAccessKeyID() string {
	return randomBase32(PrefixAccessKey, AccessKeyIDLen-len(PrefixAccessKey))
}

// NewSecretAccessKey returns a secret access key: 40 characters of the
// standard base64 alphabet (A–Z, a–z, 0–9, '+', '/'), 240 random bits, the
// shape of AWS's secret keys.
func NewSecretAccessKey() string {
	var b [30]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// NewAssociationID returns an EKS pod identity association ID: "a-" and 17
// characters of [a-z0-9].
func NewAssociationID() string {
	const n = AssociationIDLen - len(PrefixAssociation)
	out := make([]byte, len(PrefixAssociation), AssociationIDLen)
	copy(out, PrefixAssociation)
	// 252 is the largest multiple of 36 below 256: bytes at or above it
	// are rejected so that every character is equally likely.
	const limit = 256 - 256%len(lowerAlnum)
	var buf [32]byte
	for len(out) < AssociationIDLen {
		rand.Read(buf[:])
		for _, c := range buf {
			if int(c) >= limit {
				continue
			}
			out = append(out, lowerAlnum[int(c)%len(lowerAlnum)])
			if len(out) == len(PrefixAssociation)+n {
				break
			}
		}
	}
	return string(out)
}

// NewUUID returns a random (version 4, RFC 9562) UUID in lowercase
// 8-4-4-4-12 form.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(b)
}

// NewUUIDLike returns 128 random bits in UUID layout (lowercase hex,
// 8-4-4-4-12) without version or variant bits, the shape of the suffix EKS
// puts on add-on ARNs (e.g. 9ec6cfbd-8c9f-7ff4-fd26-640dda75bcea).
func NewUUIDLike() string {
	var b [16]byte
	rand.Read(b[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var out [UUIDLen]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// randomBase32 returns prefix followed by n random base32 characters.
func randomBase32(prefix string, n int) string {
	out := make([]byte, len(prefix)+n)
	copy(out, prefix)
	tail := out[len(prefix):]
	rand.Read(tail)
	for i, c := range tail {
		tail[i] = base32Alphabet[c&31] // 256 is a multiple of 32: uniform
	}
	return string(out)
}
