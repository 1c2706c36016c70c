// Package testenv connects integration tests to the real servers they run against:
// Apache Kafka 4 and Redis 7 (standalone and Redis Cluster), as started by
// scripts/services and described by environment variables:
//
//	PERSONAS_KAFKA_BROKERS      comma-separated host:port list, e.g. 127.0.0.1:19092
//	PERSONAS_REDIS_URL          redis://127.0.0.1:16379/0
//	PERSONAS_REDIS_CLUSTER_URL  redis://127.0.0.1:17001?addr=127.0.0.1:17002&addr=127.0.0.1:17003
//	                            (the form go-redis' ParseClusterURL reads)
//
// `make test` starts the servers when those variables are unset and exports
// PERSONAS_REQUIRE_SERVICES=1, which turns a missing variable into a test failure
// instead of a skip, so CI can never pass by skipping every integration test. A plain
// `go test ./...` without the variables skips integration tests.
//
// Every test gets its own resources so tests can run in parallel and reruns never see
// old data: Topic creates a uniquely named topic (deleted at cleanup), Prefix gives a
// unique Redis key prefix and CleanRedis deletes the keys under it at cleanup.
//
// Cleanups run last-registered first: start the code under test after calling Topic and
// CleanRedis, and register its shutdown with t.Cleanup, so it stops before its topics
// and keys are deleted (a consumer still running could otherwise auto-create a deleted
// topic again: the test broker has auto.create.topics.enable=true).
//
// Helpers that take a testing.TB call t.Fatal on errors, so call them from the test's
// own goroutine, not from goroutines the test starts.
//
// A typical test:
//
//	brokers := testenv.Kafka(t)
//	in := testenv.Topic(t, "clickstream.raw", 3)
//	out := testenv.Topic(t, "personas.events.v1", 3)
//	redisURL := testenv.RedisURL(t)
//	prefix := testenv.Prefix(t)
//	testenv.CleanRedis(t, redisURL, prefix)
//	// ... start the stage under test, t.Cleanup(stop) ...
//	testenv.Produce(t, brokers, in, kafka.Message{Key: []byte("k"), Value: raw})
//	got := testenv.Consume(t, brokers, out, 1, 30*time.Second)
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"os"
	"strings"
	"testing"
)

// Environment variable names shared with scripts/services and the Makefile.
const (
	EnvKafkaBrokers     = "PERSONAS_KAFKA_BROKERS"
	EnvRedisURL         = "PERSONAS_REDIS_URL"
	EnvRedisClusterURL  = "PERSONAS_REDIS_CLUSTER_URL"
	EnvRequireServices  = "PERSONAS_REQUIRE_SERVICES"
	startServicesAdvice = "run `make test`, or `scripts/services up` and then `. .services/env`"
)

// Required reports whether PERSONAS_REQUIRE_SERVICES asks for missing services to
// fail tests rather than skip them.
func Required() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvRequireServices))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// lookup returns the value of an environment variable, or ends the test: t.Fatal when
// services are required, t.Skip otherwise.
func lookup(t testing.TB, name, what string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is not set but %s=1: this test needs %s; %s", name, EnvRequireServices, what, startServicesAdvice)
	}
	t.Skipf("%s is not set: skipping this test, it needs %s; %s", name, what, startServicesAdvice)
	return ""
}

// Kafka returns the broker addresses from PERSONAS_KAFKA_BROKERS. Without them it
// skips the test, or fails it when PERSONAS_REQUIRE_SERVICES=1.
func Kafka(t testing.TB) []string {
	t.Helper()
	raw := lookup(t, EnvKafkaBrokers, "a real Kafka broker")
	var brokers []string
	for _, b := range strings.Split(raw, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		t.Fatalf("%s=%q names no broker", EnvKafkaBrokers, raw)
	}
	return brokers
}

// RedisURL returns PERSONAS_REDIS_URL (a standalone Redis). Without it it skips the
// test, or fails it when PERSONAS_REQUIRE_SERVICES=1.
func RedisURL(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvRedisURL, "a real Redis server")
}

// RedisClusterURL returns PERSONAS_REDIS_CLUSTER_URL (a Redis Cluster, in the URL form
// of go-redis' ParseClusterURL). Without it it skips the test, or fails it when
// PERSONAS_REQUIRE_SERVICES=1.
func RedisClusterURL(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvRedisClusterURL, "a real Redis Cluster")
}

// testHash is a short stable hash of the test's name: the same test gets the same
// value in every run, which helps to find a test's topics and keys on the servers.
func testHash(t testing.TB) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.Name()))
	return hex.EncodeToString(h.Sum(nil))
}

// randomSuffix returns n random bytes as hex.
func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}
