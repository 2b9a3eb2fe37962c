package payease

import (
	"crypto"
	"crypto/aes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// HmacSource is the string PayEase signs: every field except "hmac" whose
// value is not empty, keys sorted A–Z (byte order), nested objects sorted and
// flattened depth-first, arrays in order, each value trimmed and followed by
// '#'. Numbers must be json.Number (or Go integers) so that their text is
// exactly what was sent.
func HmacSource(fields map[string]any) string {
	var b strings.Builder
	writeSorted(&b, fields, true)
	return b.String()
}

func writeSorted(b *strings.Builder, m map[string]any, top bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if top && k == "hmac" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		writeValue(b, m[k])
	}
}

func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
	case map[string]any:
		writeSorted(b, x, false)
	case []any:
		for _, e := range x {
			writeValue(b, e)
		}
	default:
		s := strings.TrimSpace(fmt.Sprint(x))
		if s == "" {
			return
		}
		b.WriteString(s)
		b.WriteByte('#')
	}
}

// Sign returns the base64 "hmac" of source: SHA-1 of the source, then an RSA
// PKCS#1 v1.5 signature with MD5 over those 20 raw bytes. PHP's
// openssl_sign($data, $sig, $key, "md5") hashes $data with MD5 itself, so the
// signed digest is MD5(SHA1raw(source)), wrapped in MD5's DigestInfo.
func Sign(key *rsa.PrivateKey, source string) (string, error) {
	digest := signedDigest(source)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.MD5, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a base64 hmac over source with the platform public key.
func Verify(pub *rsa.PublicKey, source, hmac string) error {
	sig, err := base64.StdEncoding.DecodeString(hmac)
	if err != nil {
		return fmt.Errorf("hmac is not base64: %w", err)
	}
	digest := signedDigest(source)
	return rsa.VerifyPKCS1v15(pub, crypto.MD5, digest[:], sig)
}

func signedDigest(source string) [md5.Size]byte {
	sha := sha1.Sum([]byte(source))
	return md5.Sum(sha[:])
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz1234567890"

// randomAESKey is a fresh 16-character key from PayEase's alphabet.
func randomAESKey() ([]byte, error) {
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	for i := range k {
		k[i] = keyAlphabet[int(k[i])%len(keyAlphabet)]
	}
	return k, nil
}

// encryptECB is AES-128-ECB with PKCS#7 padding, as PayEase specifies. ECB
// is PayEase's choice, not ours; it is only ever used for this envelope.
func encryptECB(key, plain []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return buf, nil
}

func decryptECB(key, enc []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(enc) == 0 || len(enc)%aes.BlockSize != 0 {
		return nil, errors.New("ciphertext is not a whole number of AES blocks")
	}
	buf := make([]byte, len(enc))
	for i := 0; i < len(enc); i += aes.BlockSize {
		block.Decrypt(buf[i:i+aes.BlockSize], enc[i:i+aes.BlockSize])
	}
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("bad PKCS#7 padding")
	}
	for _, p := range buf[len(buf)-pad:] {
		if int(p) != pad {
			return nil, errors.New("bad PKCS#7 padding")
		}
	}
	return buf[:len(buf)-pad], nil
}

// ParsePrivateKey reads an RSA private key from PEM (PKCS#1 or PKCS#8).
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block in private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key is neither PKCS#1 nor PKCS#8 RSA: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not RSA")
	}
	return rk, nil
}

// ParsePublicKey reads the platform's RSA public key from PEM: a PKIX public
// key, a PKCS#1 public key, or a certificate (PayEase ships a .cer).
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block in public key")
	}
	var pub any
	var err error
	switch blk.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("public key is not RSA")
	}
	return rk, nil
}

// decodeFields parses a JSON object keeping numbers as their exact text.
func decodeFields(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
