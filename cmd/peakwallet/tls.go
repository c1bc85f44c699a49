package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Self-signed development certificate files, in the data directory.
const (
	DevCertFile = "tls-dev-cert.pem"
	DevKeyFile  = "tls-dev-key.pem"
	devCertTTL  = 90 * 24 * time.Hour
)

// tlsConfig is Mozilla's "intermediate" configuration (TLS 1.2 and 1.3,
// AEAD ciphers with forward secrecy only, the server choosing): safe for
// every client of the last several years. TLS 1.3 suites are not
// configurable in Go and are all in the profile.
func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// loadCertificate returns the certificate to serve: the given files, or a
// self-signed development certificate in dataDir (made on first use), or
// none (plain HTTP).
func loadCertificate(certFile, keyFile string, selfSigned bool, dataDir string) (*tls.Certificate, error) {
	switch {
	case certFile != "" || keyFile != "":
		if certFile == "" || keyFile == "" || selfSigned {
			return nil, errors.New("--tls-cert and --tls-key go together, and not with --tls-self-signed")
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the TLS certificate: %w", err)
		}
		return &c, nil
	case selfSigned:
		cp, kp := filepath.Join(dataDir, DevCertFile), filepath.Join(dataDir, DevKeyFile)
		if c, err := tls.LoadX509KeyPair(cp, kp); err == nil && c.Leaf != nil && time.Now().Before(c.Leaf.NotAfter) {
			return &c, nil
		}
		if err := writeDevCertificate(cp, kp); err != nil {
			return nil, err
		}
		c, err := tls.LoadX509KeyPair(cp, kp)
		return &c, err
	}
	return nil, nil
}

// writeDevCertificate makes an ECDSA P-256 certificate for localhost,
// 127.0.0.1 and ::1, valid 90 days. Browsers and curl will not trust it
// (curl --cacert the cert file, or -k); it is for development only.
func writeDevCertificate(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "peakwallet development", Organization: []string{"peakwallet (development only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCertTTL),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that it can be given to curl --cacert
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
