package groupwire

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
)

// The client functions need h to know an address for the vault (its
// peerstore or an existing connection). Each call is one stream, bounded
// by ctx and by Timeout. Refusals are *wire.Error values, worded for a
// person.

// Client asks one group vault peer about one group.
type Client struct {
	H     host.Host
	Vault peer.ID
	Group string
	// Token is a member's group capability (nil for an admin), presented
	// with each op a member may make.
	Token []byte
}

func (c Client) call(ctx context.Context, req Request, resp reply) error {
	req.Group = c.Group
	if fieldTable[req.Op][14] == 'O' {
		req.Token = c.Token
	}
	var body any
	if resp != nil {
		body = resp
	}
	if err := exchange.Call(ctx, c.H, c.Vault, ID, Limits(), req, body); err != nil {
		return fmt.Errorf("group %s at %s: %w", c.Group, c.Vault, err)
	}
	if resp != nil {
		if err := resp.check(); err != nil {
			return fmt.Errorf("group %s at %s: %w", c.Group, c.Vault, err)
		}
	}
	return nil
}

// Create asks the vault to keep a new group: its commitments, one sealed
// share per admin in the admins' order, its default window and schedule.
func (c Client) Create(ctx context.Context, commitments []byte, shares [][]byte, window time.Duration, schedule string) error {
	return c.call(ctx, Request{Op: OpCreate, Commitments: commitments, Shares: shares,
		Window: int64(window / time.Second), Schedule: schedule}, nil)
}

// Info returns the group as the vault shows it to h.
func (c Client) Info(ctx context.Context) (*Info, error) {
	var in Info
	return &in, c.call(ctx, Request{Op: OpInfo}, &in)
}

// Share returns h's share of the group, sealed to h (an admin's).
func (c Client) Share(ctx context.Context) ([]byte, error) {
	var s ShareReply
	if err := c.call(ctx, Request{Op: OpShare}, &s); err != nil {
		return nil, err
	}
	return s.Sealed, nil
}

// Approve offers a signed unlock approval (group.Sign).
func (c Client) Approve(ctx context.Context, approval []byte) (*Info, error) {
	var in Info
	return &in, c.call(ctx, Request{Op: OpApprove, Approval: approval}, &in)
}

// Relock asks the vault to lock the group at once (an admin's).
func (c Client) Relock(ctx context.Context) (*Info, error) {
	var in Info
	return &in, c.call(ctx, Request{Op: OpRelock}, &in)
}

// Get reads a secret.
func (c Client) Get(ctx context.Context, name string) (*Secret, error) {
	var s Secret
	return &s, c.call(ctx, Request{Op: OpGet, Name: name}, &s)
}

// Put writes a secret, not served before release (zero: at once).
func (c Client) Put(ctx context.Context, name string, value []byte, release time.Time) error {
	req := Request{Op: OpPut, Name: name, Value: value}
	if !release.IsZero() {
		req.Release = release.Unix()
	}
	return c.call(ctx, req, nil)
}

// List returns the names after the name after (empty: from the first).
func (c Client) List(ctx context.Context, after string) (*List, error) {
	var l List
	return &l, c.call(ctx, Request{Op: OpList, Name: after}, &l)
}

// Remove deletes a secret.
func (c Client) Remove(ctx context.Context, name string) error {
	return c.call(ctx, Request{Op: OpRemove, Name: name}, nil)
}

// Audit returns the audit records from height from (0 and 1: the first).
func (c Client) Audit(ctx context.Context, from uint64) (*AuditPage, error) {
	var p AuditPage
	return &p, c.call(ctx, Request{Op: OpAudit, From: from}, &p)
}

// Change offers a signed approval of a membership change together with
// the change it approves (its encoding; the approval signs its digest).
func (c Client) Change(ctx context.Context, approval, change []byte) (*Info, error) {
	var in Info
	return &in, c.call(ctx, Request{Op: OpChange, Approval: approval, Change: change}, &in)
}

// Invite asks the vault to invite member (a peer ID) as role (RoleRead or
// RoleWrite) for validFor (0: the vault's default); label is the handle
// the inviter typed, for the audit chain. It returns the capability the
// vault issued to the invitee, which the inviter delivers.
func (c Client) Invite(ctx context.Context, member peer.ID, role, label string, validFor time.Duration) ([]byte, error) {
	var in Invitation
	if err := c.call(ctx, Request{Op: OpInvite, Member: []byte(member), Role: role, Label: label, For: int64(validFor / time.Second)}, &in); err != nil {
		return nil, err
	}
	return in.Token, nil
}

// Accept accepts the invitation whose capability is token (the invitee's).
func (c Client) Accept(ctx context.Context, token []byte) (*Info, error) {
	var in Info
	return &in, c.call(ctx, Request{Op: OpAccept, Token: token}, &in)
}

// Decline declines the invitation whose capability is token.
func (c Client) Decline(ctx context.Context, token []byte) error {
	return c.call(ctx, Request{Op: OpDecline, Token: token}, nil)
}

// Expel ends a membership or a pending invitation (an admin's): the
// vault revokes the member's capability.
func (c Client) Expel(ctx context.Context, member peer.ID) error {
	return c.call(ctx, Request{Op: OpExpel, Member: []byte(member)}, nil)
}

// Members lists the group's members and pending invitees (an admin's).
func (c Client) Members(ctx context.Context) (*Members, error) {
	var m Members
	return &m, c.call(ctx, Request{Op: OpMembers}, &m)
}
