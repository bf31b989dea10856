package agenthost

import (
	"context"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/notify"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Digest implements localapi.Agents: the week's digest, computed from the
// audit log (so its numbers can be checked against mesh audit).
func (s *Service) Digest(ctx context.Context, req localapi.DigestRequest) (string, error) {
	w := agent.WeekOf(s.cfg.Now())
	if req.Week != "" {
		var err error
		if w, err = agent.ParseWeek(req.Week); err != nil {
			return "", badRequest(err)
		}
	}
	d, err := s.digest(ctx, w)
	if err != nil {
		return "", err
	}
	switch strings.ToLower(req.Format) {
	case "", "text":
		return d.Text(), nil
	case "markdown", "md":
		return d.Markdown(), nil
	case "html":
		return d.HTML(), nil
	}
	return "", badRequest(fmt.Errorf("--format is text, markdown or html, not %q", req.Format))
}

func (s *Service) digest(ctx context.Context, w agent.Week) (*agent.WeekDigest, error) {
	s.flushTallies(ctx, true) // this hour's calls count too
	recs, err := vault.ReadAudit(ctx, s.cfg.Store)
	if err != nil && len(recs) == 0 {
		return nil, err
	}
	return agent.Digest(recs, w), nil
}

var digestSentKey = agentsKey.Parent().ChildString("digest-sent")

// weeklyDigest sends last week's digest through the webhook once, when
// a webhook is set and the week has ended.
func (s *Service) weeklyDigest(ctx context.Context) {
	if s.cfg.Notify == nil {
		return
	}
	last := agent.WeekOf(agent.WeekOf(s.cfg.Now()).Start().AddDate(0, 0, -1))
	if b, err := s.cfg.Store.Get(ctx, digestSentKey); err == nil && string(b) >= last.String() {
		return
	} else if err != nil && err != ds.ErrNotFound {
		return
	}
	d, err := s.digest(ctx, last)
	if err != nil {
		return
	}
	if len(d.Agents) > 0 {
		s.alert(notify.Message{Title: "Your agents, week " + last.String(), Body: d.Text(), Priority: 2, Tags: []string{"robot"}})
	}
	if err := s.cfg.Store.Put(ctx, digestSentKey, []byte(last.String())); err != nil {
		s.log.Warn("agents: recording the digest sent failed", "err", err)
	}
}
