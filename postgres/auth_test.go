package postgres_test

import (
	"testing"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/auth/authtest"
)

func TestAuthConformance(t *testing.T) {
	MustDSN(t)
	authtest.Run(t, func(t *testing.T) auth.Store { return MustOpen(t) })
}
