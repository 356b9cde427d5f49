package app

import (
	"context"
	"fmt"
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

// CheckAccount makes sure the store serves the configured account: a
// store created by this or an earlier version records its account on
// first start; a restart with another --account-id is refused, naming
// the stored one, before anything is written (ARNs of two accounts must
// never mix in one store).
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
			// A store from before the record: its roles say.
			stored, err = accountOfRoles(tx)
			if err != nil {
				return err
			}
		}
		if stored != "" && stored != account {
			return fmt.Errorf("the store in this data directory serves account %s, not %s: start with --account-id %s (or use another data directory)", stored, account, stored)
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

// accountOfRoles is the account in the first role's ARN ("" without
// roles).
func accountOfRoles(tx store.Tx) (string, error) {
	roles, err := tx.ListRoles("", store.Page{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("reading the store's account: %w", err)
	}
	if len(roles) == 0 {
		return "", nil
	}
	a, err := arn.Parse(roles[0].ARN)
	if err != nil {
		return "", nil
	}
	return a.AccountID, nil
}
