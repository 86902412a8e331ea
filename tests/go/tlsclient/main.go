// tlsclient: amqp091-go (Debian's 1.5.0, GOPATH mode) over AMQPS, for tests/python/test_tls.py.
//
//	tlsclient URL CA_PEM [CLIENT_PEM CLIENT_KEY] [external]
//
// Dials with DialTLS (or DialTLS_ExternalAuth with "external"), trusting only CA_PEM, then
// publishes 100 messages with confirms to a server-named queue and consumes them back in
// order. Prints "OK" on success; "DIAL-ERROR: ..." (exit 2) when the connection or its
// TLS handshake fails; anything else wrong exits 1.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func fail(code int, format string, args ...interface{}) {
	fmt.Printf(format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) < 3 {
		fail(1, "usage: tlsclient URL CA_PEM [CLIENT_PEM CLIENT_KEY] [external]")
	}
	url, caFile := os.Args[1], os.Args[2]
	rest := os.Args[3:]
	external := len(rest) > 0 && rest[len(rest)-1] == "external"
	if external {
		rest = rest[:len(rest)-1]
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fail(1, "reading %s: %v", caFile, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if len(rest) == 2 {
		pair, err := tls.LoadX509KeyPair(rest[0], rest[1])
		if err != nil {
			fail(1, "client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	var conn *amqp.Connection
	if external {
		conn, err = amqp.DialTLS_ExternalAuth(url, cfg)
	} else {
		conn, err = amqp.DialTLS(url, cfg)
	}
	if err != nil {
		fail(2, "DIAL-ERROR: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		fail(1, "channel: %v", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		fail(1, "declare: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		fail(1, "confirm: %v", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	const n = 100
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf("m%03d", i))
		if err := ch.Publish("", q.Name, false, false, amqp.Publishing{Body: body}); err != nil {
			fail(1, "publish: %v", err)
		}
		if c := <-confirms; !c.Ack {
			fail(1, "message %d nacked", i)
		}
	}
	deliveries, err := ch.Consume(q.Name, "", false, true, false, false, nil)
	if err != nil {
		fail(1, "consume: %v", err)
	}
	for i := 0; i < n; i++ {
		select {
		case d := <-deliveries:
			if want := fmt.Sprintf("m%03d", i); string(d.Body) != want {
				fail(1, "got %q, want %q", d.Body, want)
			}
			d.Ack(false)
		case <-time.After(10 * time.Second):
			fail(1, "only %d of %d messages came back", i, n)
		}
	}
	fmt.Println("OK")
}
