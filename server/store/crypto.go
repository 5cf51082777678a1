package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// sealVersion is the first byte of every sealed value, so a later key
// rotation can tell formats (and keys) apart.
const sealVersion byte = 1

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("preparing config encryption: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("preparing config encryption: %w", err)
	}
	return aead, nil
}

// seal encrypts plaintext with a fresh random nonce and returns
// version || nonce || ciphertext. ad binds the value to its row: the same
// bytes opened under another row's ad fail.
func (s *Store) seal(plaintext, ad []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	nonce := out[1:]
	// crypto/rand.Read never fails (it panics if the system's source is
	// broken).
	_, _ = rand.Read(nonce)
	return s.aead.Seal(out, nonce, plaintext, ad)
}

// open reverses seal. Any failure is ErrDecrypt: a wrong key, altered bytes
// and a value moved from another row look the same, and none of them may
// yield garbage.
func (s *Store) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrDecrypt
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Associated data. Each starts with a distinct label so a config var can
// never be opened as a release snapshot or the other way round; keys cannot
// contain NUL, so the encodings are unambiguous.

func configVarAD(appID int64, key string) []byte {
	b := append([]byte("config_var\x00"), binary.BigEndian.AppendUint64(nil, uint64(appID))...)
	return append(b, key...)
}

func releaseConfigAD(appID int64, version int) []byte {
	b := append([]byte("release_config\x00"), binary.BigEndian.AppendUint64(nil, uint64(appID))...)
	return binary.BigEndian.AppendUint64(b, uint64(version))
}
