package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ocmt/mesh/vault"
)

// Limits on request bodies.
const (
	// maxSmallBody bounds passwords, tokens, share and token requests.
	maxSmallBody = 1 << 20
	// maxSecretBody bounds a secret's body: any secret the vault accepts
	// (vault.MaxSecretBytes of name, value, refresh, provider, username and
	// scopes) fits, so the limit is the vault's on both paths, with or
	// without a node. JSON writes the byte fields in base64 (4/3) and may
	// escape each byte of a string field as \u00XX (6 bytes), so 6 bytes
	// per counted byte plus 64 KiB for field names and the rest bound it.
	maxSecretBody = 6*vault.MaxSecretBytes + 64<<10
	// maxLargeBody bounds resources, whose own cap (share.MaxData) the
	// backend enforces.
	maxLargeBody = 64 << 20
)

// Server serves a Backend on a unix socket.
type Server struct {
	backend Backend
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
}

// maxSocketPath is the longest unix socket path Linux accepts
// (sizeof(sun_path) minus the terminating NUL).
const maxSocketPath = 107

// Listen creates the socket at path (mode 0600; a stale socket is removed
// — the caller must hold the node lock) and serves b on it.
func Listen(path string, b Backend, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("local API: the socket path %s is %d bytes, over the %d a unix socket allows; use a shorter home folder", path, len(path), maxSocketPath)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local API: %w", err)
	}
	s := &Server{backend: b, log: log, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       checkPeerUID,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("local API stopped", "err", err)
		}
	}()
	return s, nil
}

// Close stops the server and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

type ctxKey struct{}

// checkPeerUID records whether the connecting process runs as our user;
// the socket's mode already says so, this is defence in depth.
func checkPeerUID(ctx context.Context, c net.Conn) context.Context {
	ok := false
	if uc, isUnix := c.(*net.UnixConn); isUnix {
		if raw, err := uc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
				ok = err == nil && int(cred.Uid) == os.Getuid()
			})
		}
	}
	return context.WithValue(ctx, ctxKey{}, ok)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("POST /v1/unlock", s.unlock)
	mux.HandleFunc("POST /v1/lock", s.lock)
	mux.HandleFunc("POST /v1/password", s.password)
	mux.HandleFunc("GET /v1/secrets", s.secretList)
	mux.HandleFunc("GET /v1/secret", s.secretGet)
	mux.HandleFunc("PUT /v1/secret", s.secretSet)
	mux.HandleFunc("DELETE /v1/secret", s.secretRemove)
	mux.HandleFunc("GET /v1/audit", s.audit)
	mux.HandleFunc("POST /v1/token", s.tokenIssue)
	mux.HandleFunc("POST /v1/handle", s.setHandle)
	mux.HandleFunc("PUT /v1/resource", s.putResource)
	mux.HandleFunc("GET /v1/resource", s.getResource)
	mux.HandleFunc("GET /v1/resources", s.listResources)
	mux.HandleFunc("POST /v1/share", s.share)
	mux.HandleFunc("GET /v1/shares", s.shares)
	mux.HandleFunc("GET /v1/shared", s.shared)
	mux.HandleFunc("POST /v1/fetch", s.fetch)
	mux.HandleFunc("POST /v1/snapshots/push", s.snapshotPush)
	mux.HandleFunc("GET /v1/snapshots", s.snapshots)
	mux.HandleFunc("POST /v1/hibernate", s.hibernate)
	mux.HandleFunc("PUT /v1/remote", s.putRemote)
	mux.HandleFunc("DELETE /v1/remote", s.removeRemote)
	mux.HandleFunc("DELETE /v1/resource", s.removeResource)
	mux.HandleFunc("POST /v1/tokens/accept", s.acceptToken)
	mux.HandleFunc("POST /v1/backup", s.backup)
	mux.HandleFunc("GET /v1/remote-list", s.listRemote)
	mux.HandleFunc("GET /v1/contacts", s.contacts)
	mux.HandleFunc("POST /v1/contacts/accept", s.acceptContact)
	mux.HandleFunc("POST /v1/revoke", s.revoke)
	mux.HandleFunc("POST /v1/revoked", s.revokedAmong)
	s.agentRoutes(mux)
	s.groupRoutes(mux)
	s.recoveryRoutes(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := r.Context().Value(ctxKey{}).(bool); !ok {
			writeErr(w, http.StatusForbidden, errors.New("local API: caller is not the node's user"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := errorBody{Code: codeOf(err), Error: err.Error()}
	var be *vault.BackoffError
	if errors.As(err, &be) {
		body.Until, body.Failures = be.Until, be.Failures
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch codeOf(err) {
	case "locked":
		status = http.StatusLocked
	case "bad_password":
		status = http.StatusUnauthorized
	case "not_found":
		status = http.StatusNotFound
	case "bad_name", "bad_request":
		status = http.StatusBadRequest
	case "exists":
		status = http.StatusConflict
	case "too_large":
		status = http.StatusRequestEntityTooLarge
	case "backoff":
		status = http.StatusTooManyRequests
	}
	writeErr(w, status, err)
}

// readJSON decodes the request body into v: one JSON value of v's type,
// at most max bytes, no unknown field, nothing after it. It is the one
// decoder of every JSON body; on failure it answers 400 (413 over max)
// with a sentence and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errTrailing
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				err = terr
			}
		}
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: the request body is over the local API's limit of %s for it", vault.ErrTooLarge, sizeWords(mbe.Limit)))
		return false
	}
	writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: the request body is not what the local API expects: %s", ErrBadRequest, jsonProblem(err)))
	return false
}

var errTrailing = errors.New("it holds more than one JSON value")

// jsonProblem says in words what is wrong with a JSON body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errTrailing):
		return err.Error()
	case errors.Is(err, io.EOF):
		return "it is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends in the middle of a value"
	case errors.As(err, &syn):
		return fmt.Sprintf("it is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("it holds a JSON %s where a %s belongs", typ.Value, goKind(typ.Type.String()))
		}
		return fmt.Sprintf("field %q holds a JSON %s where a %s belongs", typ.Field, typ.Value, goKind(typ.Type.String()))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "it has a field the local API does not know, " + f
	}
	if strings.Contains(err.Error(), "illegal base64") {
		return "a byte field is not valid base64"
	}
	return "it does not decode"
}

// goKind names a Go type for the sentences above.
func goKind(t string) string {
	switch {
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "[]uint8"):
		return "base64 string"
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"), t == "time.Duration":
		return "number"
	case t == "bool":
		return "true or false"
	}
	return "value of another kind"
}

// sizeWords writes n bytes as people say it: 1 MiB, 6 MiB, 512 KiB.
func sizeWords(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.Status(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	var b passwordBody
	if !readJSON(w, r, maxSmallBody, &b) {
		return
	}
	defer clear(b.Password)
	if err := s.backend.Unlock(r.Context(), b.Password); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.Lock(r.Context()); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) password(w http.ResponseWriter, r *http.Request) {
	var b passwordBody
	if !readJSON(w, r, maxSmallBody, &b) {
		return
	}
	defer clear(b.Old)
	defer clear(b.New)
	change := s.backend.ChangePassword
	if b.Rotate {
		change = s.backend.RotateKey
	}
	if err := change(r.Context(), b.Old, b.New); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) secretList(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.SecretList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, l)
}

func (s *Server) secretGet(w http.ResponseWriter, r *http.Request) {
	sec, err := s.backend.SecretGet(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		s.fail(w, err)
		return
	}
	defer sec.Wipe()
	writeJSON(w, sec)
}

func (s *Server) secretSet(w http.ResponseWriter, r *http.Request) {
	var sec vault.Secret
	if !readJSON(w, r, maxSecretBody, &sec) {
		return
	}
	defer sec.Wipe()
	if err := s.backend.SecretSet(r.Context(), sec); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) secretRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.SecretRemove(r.Context(), r.URL.Query().Get("name")); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	rep, err := s.backend.Audit(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, rep)
}

func (s *Server) tokenIssue(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !readJSON(w, r, maxSmallBody, &req) {
		return
	}
	text, err := s.backend.TokenIssue(r.Context(), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, tokenBody{Token: text})
}

// reply answers with v as JSON, or the error.
func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, v)
}

func (s *Server) raw(w http.ResponseWriter, b []byte, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func (s *Server) setHandle(w http.ResponseWriter, r *http.Request) {
	s.reply(w, struct{}{}, s.backend.SetHandle(r.Context(), r.URL.Query().Get("handle")))
}

func (s *Server) putResource(w http.ResponseWriter, r *http.Request) {
	b, ok := readBytes(w, r)
	if !ok {
		return
	}
	s.reply(w, struct{}{}, s.backend.PutResource(r.Context(), r.URL.Query().Get("path"), b))
}

// readBytes reads a raw body of at most maxLargeBody bytes.
func readBytes(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLargeBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: the request body is over the local API's limit of %s", vault.ErrTooLarge, sizeWords(mbe.Limit)))
		return nil, false
	case err != nil:
		writeErr(w, http.StatusBadRequest, errors.New("the request body was cut short"))
		return nil, false
	}
	return b, true
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request) {
	b, err := s.backend.GetResource(r.Context(), r.URL.Query().Get("path"))
	s.raw(w, b, err)
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.ListResources(r.Context(), r.URL.Query().Get("prefix"))
	s.reply(w, l, err)
}

func (s *Server) share(w http.ResponseWriter, r *http.Request) {
	var req ShareRequest
	if !readJSON(w, r, maxSmallBody, &req) {
		return
	}
	res, err := s.backend.Share(r.Context(), req)
	s.reply(w, res, err)
}

func (s *Server) shares(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.Shares(r.Context())
	s.reply(w, l, err)
}

func (s *Server) shared(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.Shared(r.Context())
	s.reply(w, l, err)
}

func (s *Server) putRemote(w http.ResponseWriter, r *http.Request) {
	b, ok := readBytes(w, r)
	if !ok {
		return
	}
	s.reply(w, struct{}{}, s.backend.PutRemote(r.Context(), r.URL.Query().Get("remote"), b))
}

func (s *Server) removeRemote(w http.ResponseWriter, r *http.Request) {
	s.reply(w, struct{}{}, s.backend.RemoveRemote(r.Context(), r.URL.Query().Get("remote")))
}

func (s *Server) removeResource(w http.ResponseWriter, r *http.Request) {
	s.reply(w, struct{}{}, s.backend.RemoveResource(r.Context(), r.URL.Query().Get("path")))
}

func (s *Server) acceptToken(w http.ResponseWriter, r *http.Request) {
	var b tokenBody
	if !readJSON(w, r, maxSmallBody, &b) {
		return
	}
	g, err := s.backend.AcceptToken(r.Context(), b.Token)
	s.reply(w, g, err)
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) {
	var req FetchRequest
	if !readJSON(w, r, maxSmallBody, &req) {
		return
	}
	f, err := s.backend.Get(r.Context(), req)
	s.reply(w, f, err)
}

func (s *Server) snapshotPush(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.SnapshotPush(r.Context(), r.URL.Query().Get("pattern"))
	s.reply(w, l, err)
}

func (s *Server) hibernate(w http.ResponseWriter, r *http.Request) {
	n, err := s.backend.Hibernate(r.Context())
	s.reply(w, n, err)
}

func (s *Server) snapshots(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.Snapshots(r.Context())
	s.reply(w, l, err)
}

func (s *Server) listRemote(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.ListRemote(r.Context(), r.URL.Query().Get("remote"))
	s.reply(w, l, err)
}

func (s *Server) revokedAmong(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if !readJSON(w, r, maxSmallBody, &ids) {
		return
	}
	l, err := s.backend.RevokedAmong(r.Context(), ids)
	s.reply(w, l, err)
}

func (s *Server) contacts(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.Contacts(r.Context())
	s.reply(w, l, err)
}

func (s *Server) acceptContact(w http.ResponseWriter, r *http.Request) {
	s.reply(w, struct{}{}, s.backend.AcceptContact(r.Context(), r.URL.Query().Get("handle")))
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	var b tokenBody
	if !readJSON(w, r, maxSmallBody, &b) {
		return
	}
	id, err := s.backend.Revoke(r.Context(), b.Token)
	s.reply(w, tokenBody{Token: id}, err)
}

// Backup trailers: a backup streams as the body (it can be large, and the
// node does not hold it), so how it ended comes after it.
const (
	trailerBackupID    = "Mesh-Backup-Id"
	trailerBackupError = "Mesh-Backup-Error"
	trailerBackupInfo  = "Mesh-Backup-Info" // BackupInfo as JSON
)

// backup streams Backend.Backup as the reply body. An error before the
// first byte is an ordinary error reply; one after it is the trailer
// Mesh-Backup-Error, and the client discards what it received.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", trailerBackupID+", "+trailerBackupError+", "+trailerBackupInfo)
	http.NewResponseController(w).SetWriteDeadline(time.Time{}) // a backup takes as long as it takes
	body := &lazyBody{w: w}
	info, err := s.backend.Backup(r.Context(), body)
	switch {
	case err != nil && !body.started:
		s.fail(w, err)
	case err != nil:
		w.Header().Set(trailerBackupError, err.Error())
	default:
		if !body.started {
			body.start()
		}
		w.Header().Set(trailerBackupID, info.ID)
		if b, err := json.Marshal(info); err == nil {
			w.Header().Set(trailerBackupInfo, string(b))
		}
	}
}

// lazyBody answers 200 with an octet stream on its first write, so an
// error before it can still be an ordinary error reply.
type lazyBody struct {
	w       http.ResponseWriter
	started bool
}

func (b *lazyBody) start() {
	b.w.Header().Set("Content-Type", "application/octet-stream")
	b.w.WriteHeader(http.StatusOK)
	b.started = true
}

func (b *lazyBody) Write(p []byte) (int, error) {
	if !b.started {
		b.start()
	}
	return b.w.Write(p)
}
