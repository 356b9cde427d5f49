package awsproto

import (
	"crypto/sha256"
	"sync"
)

// signingKeyCacheSize bounds the derived-key cache. A key is valid for one
// (secret, day, region, service); a few thousand active credentials fit.
const signingKeyCacheSize = 4096

// signingKeyCache memoizes SigV4 signing keys so that a verification costs
// one HMAC instead of five. Entries are keyed by a SHA-256 of
// (secret, date, region, service), so the cache holds no secret in clear.
// When full, an arbitrary entry is evicted.
type signingKeyCache struct {
	mu sync.RWMutex
	m  map[[32]byte][32]byte
}

func (c *signingKeyCache) get(secret, date, region, service string) [32]byte {
	id := cacheID(secret, date, region, service)
	c.mu.RLock()
	k, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = deriveSigningKey(secret, date, region, service)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[[32]byte][32]byte)
	}
	if len(c.m) >= signingKeyCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

func cacheID(secret, date, region, service string) [32]byte {
	var buf [256]byte
	b := append(buf[:0], secret...)
	b = append(b, 0)
	b = append(b, date...)
	b = append(b, 0)
	b = append(b, region...)
	b = append(b, 0)
	b = append(b, service...)
	return sha256.Sum256(b)
}

// deriveSigningKey computes
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret, date, region, service string) [32]byte {
	var kb [128]byte
	k := append(append(kb[:0], "AWS4"...), secret...)
	var mb [64]byte
	kDate := hmacSHA256(k, append(mb[:0], date...))
	kRegion := hmacSHA256(kDate[:], append(mb[:0], region...))
	kService := hmacSHA256(kRegion[:], append(mb[:0], service...))
	return hmacSHA256(kService[:], append(mb[:0], sigV4Terminator...))
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) computed with sha256.Sum256 on
// stack buffers, so that it does not allocate for short messages.
func hmacSHA256(key, msg []byte) [32]byte {
	const blockSize = 64
	var k [blockSize]byte
	if len(key) > blockSize {
		s := sha256.Sum256(key)
		copy(k[:], s[:])
	} else {
		copy(k[:], key)
	}
	var ib [blockSize + 256]byte
	inner := ib[:blockSize]
	for i := range blockSize {
		inner[i] = k[i] ^ 0x36
	}
	inner = append(inner, msg...)
	ih := sha256.Sum256(inner)
	var outer [blockSize + sha256.Size]byte
	for i := range blockSize {
		outer[i] = k[i] ^ 0x5c
	}
	copy(outer[blockSize:], ih[:])
	return sha256.Sum256(outer[:])
}
