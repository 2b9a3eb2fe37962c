package sandbox

import (
	"bytes"
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
	"sync"
)

// The PayEase envelope, implemented from PROVIDERS.md and the public PHP SDK
// (hedeqiang/payease src/Pay.php, src/Traits/Utils.php):
//
//	hmac   = base64(RSA-PKCS#1 v1.5 signature, MD5 DigestInfo, over
//	         MD5(SHA1raw(source)))   -- PHP sha1($src, true) gives the raw
//	         20 bytes; openssl_sign($raw, $sig, $key, "md5") MD5-hashes them.
//	source = every non-empty value except hmac, keys sorted A–Z, nested
//	         objects sorted and flattened depth-first, each value + "#".
//	body   = base64(AES-128-ECB-PKCS#7(json, k)), k 16 random characters
//	encryptKey header = base64(RSA-PKCS#1 v1.5 encrypt(k, receiver's public key))

var keyCache struct {
	sync.Mutex
	m map[string]*rsa.PrivateKey
}

// cachedKey returns a 2048-bit key generated once per process per name:
// generating RSA keys is slow, and tests start many sandboxes.
func cachedKey(name string) (*rsa.PrivateKey, error) {
	keyCache.Lock()
	defer keyCache.Unlock()
	if k := keyCache.m[name]; k != nil {
		return k, nil
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generating RSA key: %w", err)
	}
	if keyCache.m == nil {
		keyCache.m = map[string]*rsa.PrivateKey{}
	}
	keyCache.m[name] = k
	return k, nil
}

func encodePrivateKey(k *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func encodePublicKey(k *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// parsePrivateKey reads a PKCS#8 or PKCS#1 RSA private key PEM.
func parsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// hmacSource builds PayEase's signature source from decoded JSON fields.
func hmacSource(fields map[string]any) string {
	var b strings.Builder
	appendSource(&b, fields, true)
	return b.String()
}

func appendSource(b *strings.Builder, v any, top bool) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if top && k == "hmac" {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			appendSource(b, x[k], false)
		}
	case []any:
		for _, e := range x {
			appendSource(b, e, false)
		}
	case string:
		if s := strings.TrimSpace(x); s != "" {
			b.WriteString(s)
			b.WriteByte('#')
		}
	case json.Number:
		b.WriteString(x.String())
		b.WriteByte('#')
	case bool:
		if x { // PHP: true . '#' is "1#"; false is empty and dropped
			b.WriteString("1#")
		}
	}
}

func hmacDigest(source string) []byte {
	s1 := sha1.Sum([]byte(source))
	m := md5.Sum(s1[:])
	return m[:]
}

func peSign(k *rsa.PrivateKey, fields map[string]any) (string, error) {
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.MD5, hmacDigest(hmacSource(fields)))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

func peVerify(pub *rsa.PublicKey, fields map[string]any, hmac string) error {
	sig, err := base64.StdEncoding.DecodeString(hmac)
	if err != nil {
		return fmt.Errorf("hmac is not base64: %w", err)
	}
	return rsa.VerifyPKCS1v15(pub, crypto.MD5, hmacDigest(hmacSource(fields)), sig)
}

const aesKeyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz1234567890"

func randomAESKey() []byte {
	var raw [16]byte
	rand.Read(raw[:])
	for i := range raw {
		raw[i] = aesKeyChars[int(raw[i])%len(aesKeyChars)]
	}
	return raw[:]
}

func ecbEncrypt(key, plain []byte) ([]byte, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	for i := 0; i < len(buf); i += aes.BlockSize {
		blk.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return buf, nil
}

func ecbDecrypt(key, ct []byte) ([]byte, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("ciphertext is not a whole number of AES blocks")
	}
	out := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		blk.Decrypt(out[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	pad := int(out[len(out)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, errors.New("bad PKCS#7 padding")
	}
	for _, c := range out[len(out)-pad:] {
		if int(c) != pad {
			return nil, errors.New("bad PKCS#7 padding")
		}
	}
	return out[:len(out)-pad], nil
}

// peSeal encrypts fields towards the holder of pub: the body JSON
// {"data": base64(AES(json))} and the encryptKey header value.
func peSeal(pub *rsa.PublicKey, fields map[string]any) (body []byte, encryptKey string, err error) {
	plain, err := json.Marshal(fields)
	if err != nil {
		return nil, "", err
	}
	k := randomAESKey()
	ct, err := ecbEncrypt(k, plain)
	if err != nil {
		return nil, "", err
	}
	ek, err := rsa.EncryptPKCS1v15(rand.Reader, pub, k)
	if err != nil {
		return nil, "", err
	}
	body, err = json.Marshal(map[string]string{"data": base64.StdEncoding.EncodeToString(ct)})
	return body, base64.StdEncoding.EncodeToString(ek), err
}

// peOpen decrypts a request body (raw base64 of the AES ciphertext) with the
// AES key recovered from encryptKey by priv.
func peOpen(priv *rsa.PrivateKey, encryptKey string, body []byte) (map[string]any, error) {
	ek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encryptKey))
	if err != nil {
		return nil, fmt.Errorf("encryptKey is not base64: %w", err)
	}
	k, err := rsa.DecryptPKCS1v15(nil, priv, ek)
	if err != nil {
		return nil, errors.New("encryptKey does not decrypt with the platform key")
	}
	if len(k) != 16 {
		return nil, fmt.Errorf("AES key is %d bytes, want 16", len(k))
	}
	ct, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(body)))
	if err != nil {
		return nil, fmt.Errorf("body is not base64: %w", err)
	}
	plain, err := ecbDecrypt(k, ct)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decrypted body is not a JSON object: %w", err)
	}
	return m, nil
}
