package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/infra"
)

// superviseFile is mesh supervise's config file (--config): one field per
// flag, same meaning.
type superviseFile struct {
	Listen     []string `yaml:"listen"`
	RelayPeers []string `yaml:"relay_peers"`
	Exec       string   `yaml:"exec"`
	// ExecFor is a command per handle, overriding exec (no flag).
	ExecFor map[string]string `yaml:"exec_for"`
	Verbose bool              `yaml:"verbose"`
}

const superviseLong = `Run a supervisor: the peer on a container host that starts the users'
home nodes when a relay asks. A relay whose config file names this peer
(wake: supervisor: ADDR, an address mesh addrs prints) sends it a signed
wake order when a grantee with a valid share asks for a hibernating home.
The supervisor then runs your command for that home.

--exec 'CMD ARG...' is that command. It is split into arguments without a
shell, with {handle} and {peer} replaced inside arguments, e.g.
--exec 'docker start mesh-{handle}'. The config file's exec_for gives a
command per handle. The command starts in the background, with
OCMT_WAKE_HANDLE and OCMT_WAKE_PEER set and its output in this log (-v);
the supervisor does not wait for it to finish.

It takes orders only from the relays you name with --relay-peer, and only
orders signed by the relay that sends them, dated within five minutes of
this host's clock. Any other order is refused and runs nothing. It never
runs a command a peer sends: only yours, with a handle made of a-z, 0-9,
'-' and '_', which needs no quoting. It holds no secret but its peer key,
and no user's data.`

func newSuperviseCmd(g *globals) *cobra.Command {
	var flags superviseFile
	var config string
	cmd := &cobra.Command{
		Use:   "supervise --relay-peer ID --exec 'CMD ARG...'",
		Short: "Run a supervisor that starts home nodes on this host when a relay orders a wake",
		Long:  superviseLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fc superviseFile
			if err := loadYAML(config, &fc); err != nil {
				return err
			}
			fl := cmd.Flags()
			if fl.Changed("listen") {
				fc.Listen = flags.Listen
			}
			if fl.Changed("relay-peer") {
				fc.RelayPeers = flags.RelayPeers
			}
			if fl.Changed("exec") {
				fc.Exec = flags.Exec
			}
			if fl.Changed("verbose") {
				fc.Verbose = flags.Verbose
			}
			cfg, err := fc.config(g)
			if err != nil {
				return err
			}
			in, err := infra.StartSupervisor(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer in.Close()
			printReady(cmd, "supervise", in)
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&flags.Listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	f.StringArrayVar(&flags.RelayPeers, "relay-peer", nil, "peer ID of a relay whose wake orders this supervisor carries out (repeatable)")
	f.StringVar(&flags.Exec, "exec", "", "command that starts a home node, {handle} and {peer} replaced (no shell)")
	f.BoolVarP(&flags.Verbose, "verbose", "v", false, "log more: every order carried out and the command's output")
	f.StringVar(&config, "config", "", "YAML config file: listen, relay_peers, exec, exec_for, verbose")
	cmd.AddCommand(newAuditLogCmd(g, infra.RoleSupervisor))
	return cmd
}

// config is the supervisor's configuration from the file and flags.
func (fc superviseFile) config(g *globals) (infra.SuperviseConfig, error) {
	if len(fc.RelayPeers) == 0 {
		return infra.SuperviseConfig{}, errors.New("mesh supervise needs --relay-peer ID: the relays whose wake orders it carries out (a relay prints its ID when it starts)")
	}
	if fc.Exec == "" && len(fc.ExecFor) == 0 {
		return infra.SuperviseConfig{}, errors.New("mesh supervise needs --exec 'CMD ARG...': the command that starts a home node on this host")
	}
	relays := make([]peer.ID, 0, len(fc.RelayPeers))
	for _, s := range fc.RelayPeers {
		id, err := keys.DecodePeerID(s)
		if err != nil {
			return infra.SuperviseConfig{}, fmt.Errorf("--relay-peer %q is not a peer ID (a relay prints its ID when it starts): %w", s, err)
		}
		relays = append(relays, id)
	}
	level := slog.LevelWarn
	if fc.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return infra.SuperviseConfig{Config: infra.Config{Home: g.Home(), Listen: fc.Listen, Logger: log},
		Relays: relays, Exec: fc.Exec, ExecFor: fc.ExecFor}, nil
}
