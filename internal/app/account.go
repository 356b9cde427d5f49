package app

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
)

// AccountPurpose is the server-key purpose under which the store records
// the account it serves: one record whose ID is the account ID, its
// sealed value the account ID under the master key (so a store opened
// with another key, or edited, is noticed).
const AccountPurpose = "podid-account"

// accountAD is the additional data of the sealed account record.
func accountAD() []byte { return []byte("podid-account") }

// HostedAccountPurpose is the server-key purpose under which the store
// records each further account it hosts (--account): one record per
// account, its ID the account ID, sealed like the primary's record.
const HostedAccountPurpose = "podid-hosted-account"

// CheckAccount makes sure the store serves the configured account: a
// store created by this or an earlier version records its account on
// first start; a restart with another --account-id is refused, naming
// the stored one, before anything is written (the primary account is
// the one clusters and associations belong to). The root keys of a store
// migrated without a known account are assigned to it.
func CheckAccount(ctx context.Context, st store.Store, kr *secrets.Keyring, account string, now time.Time) error {
	return st.Update(ctx, func(tx store.Tx) error {
		recs, err := tx.ListServerKeys(AccountPurpose)
		if err != nil {
			return fmt.Errorf("reading the store's account: %w", err)
		}
		stored := ""
		if len(recs) > 0 {
			stored = recs[0].ID
			got, err := kr.Open(recs[0].Sealed, accountAD())
			if err != nil || string(got) != stored {
				return fmt.Errorf("the store's account record does not open with this master key (is --master-key-file or PODID_MASTER_KEY the one this store was created with?)")
			}
		} else {
			// A store from before the record: its IAM records say.
			accts, err := tx.IAMAccounts()
			if err != nil {
				return fmt.Errorf("reading the store's account: %w", err)
			}
			for _, a := range accts {
				if a != "" {
					stored = a
					break
				}
			}
		}
		if stored != "" && stored != account {
			return fmt.Errorf("the store in this data directory serves account %s, not %s: start with --account-id %s (or use another data directory)", stored, account, stored)
		}
		if err := adoptRootKeys(tx, account); err != nil {
			return err
		}
		if len(recs) > 0 {
			return nil
		}
		sealed, err := kr.Seal([]byte(account), accountAD())
		if err != nil {
			return err
		}
		return tx.PutServerKey(&store.ServerKey{ID: account, Purpose: AccountPurpose, Sealed: sealed, Active: true, CreatedAt: now.UTC()})
	})
}

// adoptRootKeys gives account the root keys that migration 0004 could
// not assign (a store with neither an account record nor IAM entities):
// each is written again, the same key, in account.
func adoptRootKeys(tx store.Tx, account string) error {
	keys, err := tx.ListAccessKeys("", "")
	if err != nil {
		return fmt.Errorf("reading root keys: %w", err)
	}
	for _, k := range keys {
		if err := tx.DeleteAccessKey(k.ID); err != nil {
			return fmt.Errorf("assigning root key %s to account %s: %w", k.ID, account, err)
		}
		k.Account = account
		if err := tx.CreateAccessKey(k); err != nil {
			return fmt.Errorf("assigning root key %s to account %s: %w", k.ID, account, err)
		}
	}
	return nil
}

// HostAccounts records the further accounts of --account (each once,
// sealed like the primary's record) and returns every further account
// the store hosts, sorted: those recorded by earlier starts too, since an
// account's IAM entities stay in the store. The primary account is
// refused as a further one.
func HostAccounts(ctx context.Context, st store.Store, kr *secrets.Keyring, primary string, extra []string, now time.Time) ([]string, error) {
	var out []string
	err := st.Update(ctx, func(tx store.Tx) error {
		recs, err := tx.ListServerKeys(HostedAccountPurpose)
		if err != nil {
			return fmt.Errorf("reading hosted accounts: %w", err)
		}
		have := map[string]bool{}
		for _, r := range recs {
			got, err := kr.Open(r.Sealed, hostedAD())
			if err != nil || string(got) != r.ID {
				return fmt.Errorf("the store's record of hosted account %s does not open with this master key", r.ID)
			}
			have[r.ID] = true
		}
		for _, a := range extra {
			switch {
			case !arn.IsValidAccountID(a):
				return fmt.Errorf("--account %q must be 12 digits", a)
			case a == primary:
				return fmt.Errorf("--account %s is the primary account (--account-id); name further accounts only", a)
			case have[a]:
				continue
			}
			sealed, err := kr.Seal([]byte(a), hostedAD())
			if err != nil {
				return err
			}
			if err := tx.PutServerKey(&store.ServerKey{ID: a, Purpose: HostedAccountPurpose, Sealed: sealed, Active: true, CreatedAt: now.UTC()}); err != nil {
				return fmt.Errorf("recording hosted account %s: %w", a, err)
			}
			have[a] = true
		}
		for a := range have {
			out = append(out, a)
		}
		sort.Strings(out)
		return nil
	})
	return out, err
}

// hostedAD is the additional data of a hosted account's sealed record.
func hostedAD() []byte { return []byte("podid-hosted-account") }
