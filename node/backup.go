package node

import (
	"context"
	"errors"
	"io"

	"github.com/ocmt/mesh/internal/backup"
	"github.com/ocmt/mesh/node/localapi"
)

// Backup implements localapi.Backend: mesh backup writes an encrypted,
// consistent copy of the home (internal/backup) to w. The vault must be
// unlocked: the backup's key comes from its master key, and only the vault
// password (as it is now) opens it. Writes go on meanwhile; the backup
// holds the store as it was when it started.
func (o *Offline) Backup(ctx context.Context, w io.Writer) (localapi.BackupInfo, error) {
	if o.st == nil {
		return localapi.BackupInfo{}, errors.New("this vault is not on a store that can be backed up")
	}
	o.use()
	i, err := backup.Write(ctx, w, backup.Source{Home: o.home, Store: o.st, Vault: o.vault, Actor: o.actor, Now: o.now})
	if err != nil {
		return localapi.BackupInfo{}, err
	}
	return localapi.BackupInfo{ID: i.ID, Created: i.Created, Entries: i.Entries, Size: i.Size}, nil
}

// Backup implements localapi.Backend on a running node: a backup stops when
// the node stops or its vault is locked (its key came from the vault), and
// the node waits for it before closing the store.
func (n *Node) Backup(ctx context.Context, w io.Writer) (localapi.BackupInfo, error) {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return localapi.BackupInfo{}, errors.New("the node is stopping")
	}
	ctx, cancel := context.WithCancel(ctx)
	n.backups.Add(1)
	n.stopBackups = append(n.stopBackups, cancel)
	n.mu.Unlock()
	defer n.backups.Done()
	defer cancel()
	return n.Offline.Backup(ctx, w)
}

// cancelBackups stops the backups under way (the vault is being locked, or
// the node is stopping).
func (n *Node) cancelBackups() {
	n.mu.Lock()
	stop := n.stopBackups
	n.stopBackups = nil
	n.mu.Unlock()
	for _, c := range stop {
		c()
	}
}

// Lock implements localapi.Backend: backups under way stop first (they
// hold a key derived from the master key the lock wipes).
func (n *Node) Lock(ctx context.Context) error {
	n.cancelBackups()
	n.sleeper.Forget(ctx) // the resume window ends too
	return n.Offline.Lock(ctx)
}

// Restore restores a backup into the empty home folder h (mesh restore;
// never through a running node: h must not be in use). password is the
// vault password as it was when the backup was taken.
func Restore(ctx context.Context, r io.Reader, h Home, password []byte) (backup.RestoreInfo, error) {
	return backup.Restore(ctx, r, h, password)
}
