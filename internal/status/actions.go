package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
)

// ActionRequest is the JSON body of POST /api/pause, /api/resume and
// /api/flush. Target is a distribution id or alias, or "" for every
// distribution; Reason is required to pause.
type ActionRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
}

// ActionResponse is their answer: OK with what was done, or Error.
type ActionResponse struct {
	OK     bool   `json:"ok"`
	Action string `json:"action"`
	Target string `json:"target"`
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// maxActionBody bounds an action's body: a target and a reason.
const maxActionBody = 4 << 10

// action handles one of pause, resume, flush. Each request, refused or
// carried out, is logged with who sent it (remote address and user agent;
// never the token); the Controller records what it did for the snapshot's
// Actions.
func (c *Console) action(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		by := who(r)
		log := c.log.With(zap.String("action", name), zap.String("remote", r.RemoteAddr), zap.String("user_agent", r.UserAgent()))
		reply := func(code int, target, result, errText string) {
			writeJSON(w, code, ActionResponse{OK: errText == "", Action: name, Target: target, Result: result, Error: errText})
		}
		if !c.authorized(r) {
			log.Warn("console action refused: missing or wrong admin token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cf-invalidator"`)
			reply(http.StatusUnauthorized, "", "", "unauthorized: send the admin token as Authorization: Bearer <token>")
			return
		}
		req, code, err := decodeAction(w, r)
		if err == nil {
			req.Target, err = c.resolve(r, req.Target)
			code = http.StatusBadRequest
		}
		if err == nil && name == "pause" && req.Reason == "" {
			err = errors.New(`a reason is required to pause ("reason")`)
		}
		if err != nil {
			log.Warn("console action refused: bad request", zap.Error(err))
			reply(code, req.Target, "", err.Error())
			return
		}
		log = log.With(zap.String("target", req.Target), zap.String("reason", req.Reason))
		switch name {
		case "pause":
			err = c.o.Controller.Pause(req.Target, req.Reason, by)
		case "resume":
			err = c.o.Controller.Resume(req.Target, by)
		case "flush":
			err = c.o.Controller.Flush(req.Target, by)
		}
		if err != nil {
			log.Warn("console action failed", zap.Error(err))
			reply(http.StatusConflict, req.Target, "", fmt.Sprintf("%s %s: %v", name, targetText(req.Target), err))
			return
		}
		result := describe(name, req.Target, req.Reason)
		log.Warn("console action carried out", zap.String("result", result))
		reply(http.StatusOK, req.Target, result, "")
	}
}

// authorized compares the bearer token in constant time (over SHA-256
// digests, so not even the token's length shows in the timing).
func (c *Console) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(scheme):])))
	want := sha256.Sum256([]byte(c.o.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// decodeAction reads a strict JSON body: application/json, one object, no
// unknown member, a reason of printable text within MaxReason characters.
func decodeAction(w http.ResponseWriter, r *http.Request) (ActionRequest, int, error) {
	var req ActionRequest
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return req, http.StatusUnsupportedMediaType, errors.New("the body must be JSON (Content-Type: application/json)")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", maxActionBody)
		}
		return req, http.StatusBadRequest, fmt.Errorf(`the body must be {"target": "ID or \"\" for all", "reason": "…"}: %w`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, http.StatusBadRequest, errors.New("the body must hold one JSON object")
	}
	req.Target = strings.TrimSpace(req.Target)
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case utf8.RuneCountInString(req.Reason) > MaxReason:
		return req, http.StatusBadRequest, fmt.Errorf("the reason is over %d characters", MaxReason)
	case Printable(req.Reason) != req.Reason:
		return req, http.StatusBadRequest, errors.New("the reason must be one line of printable text")
	}
	return req, 0, nil
}

// resolve maps a target to a distribution id of the current snapshot
// (an alias names its distribution); "" stays "" (every distribution).
func (c *Console) resolve(r *http.Request, target string) (string, error) {
	if target == "" {
		return "", nil
	}
	s := c.o.Provider.Snapshot(r.Context())
	for _, d := range s.Distributions {
		if d.ID == target {
			return d.ID, nil
		}
	}
	for _, d := range s.Distributions {
		if slices.Contains(d.Aliases, target) {
			return d.ID, nil
		}
	}
	return target, fmt.Errorf("unknown distribution %q: not in the worker's allow-list", target)
}

// who names the client for the actions log: its address and user agent.
func who(r *http.Request) string {
	ua := Truncate(Printable(r.UserAgent()), 120)
	if ua == "" {
		ua = "no user agent"
	}
	return r.RemoteAddr + " · " + ua
}

func targetText(t string) string {
	if t == "" {
		return "every distribution"
	}
	return t
}

func describe(action, target, reason string) string {
	switch action {
	case "pause":
		return fmt.Sprintf("paused %s: %s", targetText(target), reason)
	case "resume":
		return "resumed " + targetText(target)
	}
	return "flushed the open batch of " + targetText(target)
}
