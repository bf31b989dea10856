package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/node/localapi"
)

const recoveryLong = `A lost password need not be a lost vault. Each recovery method you
enable is one more way to set a new password: a 24-word phrase you keep
on paper, friends of whom enough must help (3 of 5, say), a key file on
removable media, or an institution's escrow. None of them lets the
bootstrap, a relay or any single friend open your vault. Enabling,
testing and using a method are in your audit log. mesh recover uses one.`

func newRecoveryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "recovery", Short: "Ways to set a new password if you lose yours: phrase, friends, key file, escrow", Long: recoveryLong}
	cmd.AddCommand(newRecoveryStatusCmd(g), newRecoveryPhraseCmd(g), newRecoverySocialCmd(g), newRecoveryHardwareCmd(g),
		newRecoveryEscrowCmd(g), newRecoveryTestCmd(g), newRecoveryDisableCmd(g), newRecoveryEscrowRequestCmd(g),
		newRecoveryFriendCmd(g, "requests", localapi.RecoveryRequests, "Recovery requests you can help with as a friend (or that name your own vault)"),
		newRecoveryIDCmd(g, "help", localapi.RecoveryHelp, "Help a friend recover: release your share to their new device after the waiting period"),
		newRecoveryIDCmd(g, "veto", localapi.RecoveryVeto, "Refuse a recovery request for your own vault: the friends will not release"),
		newRecoveryFriendCmd(g, "held", localapi.RecoveryHeld, "Whose recovery shares you keep, as a friend"),
		newEscrowReleaseCmd(g))
	return cmd
}

func recoveryDo(g *globals, cmd *cobra.Command, n need, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	b, err := g.open(cmd, n)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	defer b.Close()
	return b.Recovery(cmd.Context(), req)
}

func newRecoveryStatusCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the recovery methods enabled for your vault, and when each was last tested",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := recoveryDo(g, cmd, needAny, localapi.RecoveryRequest{Op: localapi.RecoveryStatus})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, out.Methods)
			}
			if len(out.Methods) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no recovery method: a lost password would lose the vault (mesh recovery phrase enables one)")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "METHOD\tENABLED\tLAST TESTED\tNEEDS")
			for _, m := range out.Methods {
				tested := "never"
				if !m.Tested.IsZero() {
					tested = m.Tested.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Method, m.Added.Local().Format(time.DateOnly), tested, m.Detail)
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// readLine reads one line from the command's stdin.
func readLine(in *bufio.Reader) (string, error) {
	s, err := in.ReadString('\n')
	if err != nil && s == "" {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

func newRecoveryPhraseCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "phrase",
		Short: "Enable a 24-word recovery phrase (shown once; you type three of its words back)",
		Long: `Enable a recovery phrase: 24 words shown once, which set a new password
with mesh recover --phrase-file. Write them on paper and keep it apart
from your devices. You are then asked three of the words, chosen at
random, and the phrase is enabled only if they match. For scripted
set-ups, --out FILE writes the phrase to a new file (mode 0600) instead,
without the check. Your vault must be unlocked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			phrase, err := recovery.NewPhrase()
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeNewFile(out, []byte(phrase+"\n")); err != nil {
					return fmt.Errorf("writing the phrase: %w", err)
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "Your recovery phrase (write it down; it is not shown again):\n\n")
				for i, word := range strings.Fields(phrase) {
					fmt.Fprintf(w, "%2d. %-10s", i+1, word)
					if i%6 == 5 {
						fmt.Fprintln(w)
					}
				}
				fmt.Fprintln(w)
				in := bufio.NewReader(cmd.InOrStdin())
				for range 3 {
					n, _ := rand.Int(rand.Reader, big.NewInt(recovery.PhraseWords))
					pos := int(n.Int64()) + 1
					want, _ := recovery.PhraseWordsAt(phrase, pos)
					fmt.Fprintf(w, "Word %d: ", pos)
					got, err := readLine(in)
					if err != nil {
						return errors.New("the phrase was not enabled: three of its words must be typed back")
					}
					if !strings.EqualFold(got, want[0]) {
						return fmt.Errorf("word %d does not match: the phrase was not enabled (run mesh recovery phrase again for a new one)", pos)
					}
				}
			}
			res, err := recoveryDo(g, cmd, needUnlocked, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
			if err != nil {
				if out != "" {
					os.Remove(out)
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			if out != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "the phrase is in %s (mode 0600): keep it apart from this machine\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the phrase to this new file (mode 0600) instead of showing it")
	return cmd
}

func newRecoverySocialCmd(g *globals) *cobra.Command {
	var friends string
	var threshold int
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "social --friends A,B,C,D,E --threshold 3",
		Short: "Enable recovery by friends: any --threshold of them together, never one alone",
		Long: `Enable social recovery: a recovery key is split among --friends (2 to 6
handles) so that any --threshold of them can help you set a new password
from a new device, and fewer learn nothing. Each friend's share goes to
their node sealed to their key. When you recover (mesh recover --social),
each friend checks a code with you before helping, and a waiting period
(--wait, 48h by default, at least a day unless the node's operator set
mesh node --recovery-min-wait) lets your old device refuse
(mesh recovery veto). Needs a running node, unlocked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := recoveryDo(g, cmd, needNode, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Social,
				Friends: splitList(friends), Threshold: threshold, Wait: wait})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
	cmd.Flags().StringVar(&friends, "friends", "", "your friends' handles, comma-separated")
	cmd.Flags().IntVar(&threshold, "threshold", 3, "how many friends must help")
	durationVar(cmd.Flags(), &wait, "wait", recovery.DefaultWait, "the waiting period before a recovery completes")
	return cmd
}

func newRecoveryHardwareCmd(g *globals) *cobra.Command {
	var keyFile, recipient string
	cmd := &cobra.Command{
		Use:   "hardware (--key-file PATH | --recipient age1...)",
		Short: "Enable recovery with a key file on removable media (or an age key on a hardware token)",
		Long: `Enable recovery with a key: --key-file PATH makes a new key and writes it
to PATH (say, a USB stick: mode 0600, a new file), and mesh recover
--hardware-key PATH later sets a new password with it. --recipient
age1... uses an age key you already hold (on a hardware token, for
instance): recovery then takes its identity file. Keep the key apart
from this machine. Your vault must be unlocked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (keyFile == "") == (recipient == "") {
				return errors.New("give --key-file PATH (a new key is made there) or --recipient age1... (a key you hold)")
			}
			if keyFile != "" {
				id, rcpt, err := recovery.NewHardwareIdentity()
				if err != nil {
					return err
				}
				if err := writeNewFile(keyFile, []byte("# OCMT Mesh recovery key for "+string(g.Home())+"\n"+id+"\n")); err != nil {
					return err
				}
				recipient = rcpt
			}
			res, err := recoveryDo(g, cmd, needUnlocked, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
			if err != nil {
				if keyFile != "" {
					os.Remove(keyFile)
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key-file", "", "make a new recovery key in this new file (on removable media)")
	cmd.Flags().StringVar(&recipient, "recipient", "", "an age recipient (age1...) whose identity you hold")
	return cmd
}

func newRecoveryEscrowCmd(g *globals) *cobra.Command {
	var recipient, institution string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "escrow --recipient age1... --institution-key PEERID",
		Short: "Enable recovery through an institution's escrow (its signed release, then a waiting period)",
		Long: `Enable institutional escrow: a recovery key sealed to the institution's
age recipient. To recover, you send the institution a request (mesh
recovery escrow-request); once it has checked who you are, it answers
with a release statement signed by its key (--institution-key); the
release works only for this vault, and only after the waiting period
(--wait). The institution never holds your vault. Your vault must be
unlocked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := recoveryDo(g, cmd, needUnlocked, localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Escrow,
				Recipient: recipient, Institution: institution, Wait: wait})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
	cmd.Flags().StringVar(&recipient, "recipient", "", "the institution's age recipient (age1...)")
	cmd.Flags().StringVar(&institution, "institution-key", "", "the peer ID whose key signs the institution's releases")
	durationVar(cmd.Flags(), &wait, "wait", recovery.DefaultWait, "the waiting period after a release")
	return cmd
}

func newRecoveryEscrowRequestCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "escrow-request --out FILE",
		Short: "Write the request your escrow institution answers with a release (no password needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("give --out FILE: the request to send your institution")
			}
			res, err := recoveryDo(g, cmd, needAny, localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
			if err != nil {
				return err
			}
			if err := writeNewFile(out, res.EscrowRequest); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s\n", out, res.Text)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the request file to write")
	return cmd
}

func newEscrowReleaseCmd(g *globals) *cobra.Command {
	var identity, request, out string
	cmd := &cobra.Command{
		Use:   "escrow-release --identity FILE --request FILE --out FILE",
		Short: "For an escrow institution: answer a user's request with a release signed by this home's key",
		Long: `Run by an escrow institution, with --home its own folder (whose peer key
signs releases: the key users name with --institution-key): checks the
user's request (signed by the user's key, fresh), opens the escrowed key
with the institution's age identity (--identity), re-seals it to the
request's one-time key and writes the signed release. Check who the user
is, out of band, before you run it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := os.ReadFile(request)
			if err != nil {
				return err
			}
			ids, err := os.Open(identity)
			if err != nil {
				return err
			}
			defer ids.Close()
			k, err := home.LoadIdentity(g.Home())
			if err != nil {
				return err
			}
			defer k.Wipe()
			rel, err := recovery.InstitutionRelease(&k, ids, req, time.Now())
			if err != nil {
				return err
			}
			if err := writeNewFile(out, rel); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the release %s, signed by %s\n", out, k.ID())
			return nil
		},
	}
	cmd.Flags().StringVar(&identity, "identity", "", "the institution's age identity file")
	cmd.Flags().StringVar(&request, "request", "", "the user's request file")
	cmd.Flags().StringVar(&out, "out", "", "the release file to write")
	return cmd
}

// proofFlags are what a method takes to prove it opens the vault.
type proofFlags struct {
	phraseFile, keyFile, release string
}

func (p *proofFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.phraseFile, "phrase-file", "", "the recovery phrase, from this file (else a prompt)")
	cmd.Flags().StringVar(&p.keyFile, "hardware-key", "", "the recovery key file (hardware)")
	cmd.Flags().StringVar(&p.release, "escrow-release", "", "the institution's release statement (escrow)")
}

// request fills req's method and proof from the flags.
func (p *proofFlags) request(cmd *cobra.Command, req *localapi.RecoveryRequest) error {
	n := 0
	for _, s := range []string{p.phraseFile, p.keyFile, p.release} {
		if s != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("give one of --phrase-file, --hardware-key and --escrow-release")
	case p.keyFile != "":
		b, err := os.ReadFile(p.keyFile)
		if err != nil {
			return err
		}
		req.Method, req.Identity = recovery.Hardware, string(b)
	case p.release != "":
		b, err := os.ReadFile(p.release)
		if err != nil {
			return err
		}
		req.Method, req.Release = recovery.Escrow, b
	default:
		req.Method = recovery.Phrase
		if p.phraseFile != "" {
			b, err := os.ReadFile(p.phraseFile)
			if err != nil {
				return err
			}
			req.Phrase = string(b)
			return nil
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Recovery phrase (24 words): ")
		line, err := readLine(bufio.NewReader(cmd.InOrStdin()))
		if err != nil {
			return errors.New("no recovery phrase given (--phrase-file, or type it)")
		}
		req.Phrase = line
	}
	return nil
}

func newRecoveryTestCmd(g *globals) *cobra.Command {
	var p proofFlags
	cmd := &cobra.Command{
		Use:   "test [METHOD] (--phrase-file F | --hardware-key F | --escrow-release F)",
		Short: "Prove a recovery method still opens your vault, changing nothing",
		Long: `Prove a recovery method still opens your vault, changing nothing but
when it was last tested (mesh recovery status): give what the method
takes (the phrase, else it is asked; the key file; the escrow's release).
METHOD, when given, must be the one those flags name. Friends are tested
by their own nodes (mesh recovery held), a security key from the web
page.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := localapi.RecoveryRequest{Op: localapi.RecoveryTest}
			if err := p.request(cmd, &req); err != nil {
				return err
			}
			if len(args) == 1 && args[0] != req.Method {
				how, ok := map[string]string{"phrase": "--phrase-file FILE (or the phrase typed)", "hardware": "--hardware-key FILE",
					"escrow": "--escrow-release FILE"}[args[0]]
				if !ok {
					return fmt.Errorf("mesh recovery test tests phrase, hardware or escrow here; %s is tested elsewhere (see --help)", args[0])
				}
				return fmt.Errorf("testing %s takes %s", args[0], how)
			}
			res, err := recoveryDo(g, cmd, needAny, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
	p.add(cmd)
	return cmd
}

func newRecoveryDisableCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "disable METHOD",
		Short: "Disable a recovery method (your vault must be unlocked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := recoveryDo(g, cmd, needUnlocked, localapi.RecoveryRequest{Op: localapi.RecoveryDisable, Method: args[0]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
}

func newRecoveryFriendCmd(g *globals, use, op, short string) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := recoveryDo(g, cmd, needNode, localapi.RecoveryRequest{Op: op})
			if err != nil {
				return err
			}
			if jsonOut {
				if op == localapi.RecoveryHeld {
					return printJSON(cmd, res.Held)
				}
				return printJSON(cmd, res.Requests)
			}
			w := cmd.OutOrStdout()
			for _, h := range res.Held {
				fmt.Fprintln(w, h)
			}
			for _, r := range res.Requests {
				whose := r.Owner
				if r.Mine {
					whose = "YOUR vault"
				}
				fmt.Fprintf(w, "%s  recovery of %s by device %s, code %s, %s: %s\n", r.ID, whose, r.Device, r.Code,
					r.Time.Local().Format(time.DateTime), r.State)
			}
			if len(res.Held) == 0 && len(res.Requests) == 0 {
				fmt.Fprintln(w, "none")
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newRecoveryIDCmd(g *globals, use, op, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := recoveryDo(g, cmd, needNode, localapi.RecoveryRequest{Op: op, ID: args[0]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
}

func newRecoverCmd(g *globals) *cobra.Command {
	var p proofFlags
	var newFile string
	var social bool
	var sf socialRecoverFlags
	cmd := &cobra.Command{
		Use:   "recover (--phrase-file F | --hardware-key F | --escrow-release F | --social --handle H --backup F --bootstrap ADDR)",
		Short: "Set a new password with a recovery method, when you lost yours",
		Long: `Set a new password with a recovery method enabled earlier (mesh recovery):
the phrase (--phrase-file, or typed), the key file (--hardware-key), or
the escrow institution's release (--escrow-release; the waiting period
runs from the first time the release is given, so run it again when it
ends). The new password comes from --new-password-file, else
$MESH_NEW_PASSWORD, else a prompt. The vault is unlocked afterwards if a
node runs. A wrong phrase or key counts like a wrong password: the waits
between tries grow.` + socialRecoverLong,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if social {
				return runSocialRecover(cmd, g, &sf, newFile)
			}
			req := localapi.RecoveryRequest{Op: localapi.RecoveryRecover}
			if err := p.request(cmd, &req); err != nil {
				return err
			}
			newPw, err := passwordSource{file: newFile, flag: "--new-password-file", env: "MESH_NEW_PASSWORD",
				prompt: "New password: ", confirm: true, what: "new password"}.read()
			if err != nil {
				return err
			}
			defer clear(newPw)
			req.NewPassword = newPw
			var res localapi.RecoveryReply
			err = waitOutBackoff(cmd, func() (err error) {
				res, err = recoveryDo(g, cmd, needAny, req)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Text)
			return nil
		},
	}
	p.add(cmd)
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "read the new password from this file (else $MESH_NEW_PASSWORD, else a prompt)")
	cmd.Flags().BoolVar(&social, "social", false, "recover on a new device with your friends (below)")
	sf.add(cmd)
	return cmd
}
