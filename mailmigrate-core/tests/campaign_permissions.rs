//! The permissions review: delegations and folder ACLs, source against destination.

use mailmigrate_core::campaign::permissions::*;
use mailmigrate_core::campaign::report::PermissionReview;
use mailmigrate_core::campaign::{
    Batch, CampaignPlan, DomainRewrite, PairOverride, Strategy, ValidPlan,
};
use mailmigrate_core::directory::{Account, Inventory, Permission, Right};

fn source() -> Inventory {
    Inventory::new(vec![
        Account::new("ann@old.example"),
        Account::new("bo@old.example").with_aliases(["bob@old.example"]),
        Account::new("info@old.example"),
    ])
    .with_permissions(vec![
        // bo, named by his alias: mapped through the override to robert@new.example.
        Permission::new("info@old.example", "bob@old.example", Right::SendAs),
        Permission::new("info@old.example", "ann@old.example", Right::FullAccess),
        Permission::new("info@old.example", "ann@old.example", Right::FolderRead)
            .with_folder("Calendar"),
        Permission::new("ann@old.example", "bo@old.example", Right::SendOnBehalf),
        // A group outside the campaign: mapped by the domain rewrite.
        Permission::new("info@old.example", "team@old.example", Right::FolderEdit)
            .with_folder("Shared"),
    ])
}

fn plan(inv: &Inventory) -> ValidPlan {
    CampaignPlan::new("acme", Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_override(PairOverride::new("bo@old.example", "robert@new.example"))
        .with_batch(Batch::new(
            "all",
            ["ann@old.example", "bo@old.example", "info@old.example"],
        ))
        .validate(inv)
        .unwrap()
}

fn destination(perms: Vec<Permission>) -> Inventory {
    Inventory::new(vec![
        Account::new("ann@new.example").with_aliases(["anna@new.example"]),
        Account::new("robert@new.example"),
        Account::new("info@new.example"),
    ])
    .with_permissions(perms)
}

fn faithful() -> Vec<Permission> {
    vec![
        Permission::new("info@new.example", "ROBERT@new.example", Right::SendAs),
        // Named by an alias at the destination: the same account.
        Permission::new("info@new.example", "anna@new.example", Right::FullAccess),
        Permission::new("info@new.example", "ann@new.example", Right::FolderRead)
            .with_folder("Calendar"),
        Permission::new("ann@new.example", "robert@new.example", Right::SendOnBehalf),
        Permission::new("info@new.example", "team@new.example", Right::FolderEdit)
            .with_folder("Shared"),
    ]
}

#[test]
fn a_faithful_copy_has_no_differences() {
    let src = source();
    let c = compare_permissions(&src, &destination(faithful()), &plan(&src));
    assert!(c.is_clean(), "{:#?}", c.differences);
    assert_eq!((c.pairs, c.grants), (3, 5));
}

#[test]
fn missing_extra_and_changed_are_listed_with_mailbox_grantee_right_and_folder() {
    let src = source();
    let mut perms = faithful();
    perms.remove(0); // send-as for robert: missing
    perms[1] = Permission::new("info@new.example", "ann@new.example", Right::FolderEdit)
        .with_folder("Calendar");
    perms.push(Permission::new(
        "robert@new.example",
        "ann@new.example",
        Right::FullAccess,
    )); // extra
    let c = compare_permissions(&src, &destination(perms), &plan(&src));
    let got: Vec<_> = c
        .differences
        .iter()
        .map(|d| {
            (
                d.mailbox.as_str(),
                d.grantee.as_str(),
                d.right.as_str(),
                d.folder.as_deref(),
                d.kind,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "bo@old.example",
                "ann@new.example",
                "full_access",
                None,
                DifferenceKind::Extra
            ),
            (
                "info@old.example",
                "robert@new.example",
                "send_as",
                None,
                DifferenceKind::Missing
            ),
            (
                "info@old.example",
                "ann@new.example",
                "folder_read",
                Some("Calendar"),
                DifferenceKind::Changed
            ),
        ]
    );
    let review = PermissionReview::from(&c);
    assert_eq!(review.checked, c.grants);
    assert_eq!(review.differences[1].issue, "missing at the destination");
    assert_eq!(
        review.differences[2].issue,
        "changed at the destination: source folder_read, destination folder_edit"
    );
    assert_eq!(review.differences[2].folder.as_deref(), Some("Calendar"));
    assert_eq!(
        review_permissions(&src, &destination(faithful()), &plan(&src))
            .differences
            .len(),
        0
    );
}

#[test]
fn a_directory_that_lists_no_permissions_leaves_grants_unchecked() {
    let src = source();
    let dst = Inventory::new(destination(vec![]).accounts);
    let c = compare_permissions(&src, &dst, &plan(&src));
    assert_eq!(c.differences.len(), 5);
    assert!(c
        .differences
        .iter()
        .all(|d| d.kind == DifferenceKind::Unchecked));
    assert_eq!(
        c.differences[0].issue(),
        "not checked: the destination directory does not list permissions"
    );
}

#[test]
fn folder_acls_compare_with_identifiers_and_folders_mapped() {
    let src = vec![
        FolderAcl::new("Projects", "bo@old.example", "lrs"),
        FolderAcl::new("Projects", "anyone", "l"),
        FolderAcl::new("Sent Items", "ann@old.example", "lrswipkxtecda"),
        FolderAcl::new("Archive", "-bo@old.example", "w"),
        FolderAcl::new("Old", "gone", ""), // no rights: absent
    ];
    let dst = vec![
        FolderAcl::new("Projects", "Robert@new.example", "rl"),
        FolderAcl::new("Projects", "anyone", "l"),
        FolderAcl::new("Sent", "ann@new.example", "lrswipkxtea"),
        FolderAcl::new("Projects", "eve@new.example", "lr"),
    ];
    let inv = source();
    let mapping = AclMapping::from_plan(&plan(&inv)).with_folder("Sent Items", "Sent");
    let c = compare_folder_acls("info@old.example", &src, &dst, &mapping);
    let got: Vec<_> = c
        .differences
        .iter()
        .map(|d| {
            (
                d.folder.as_deref().unwrap(),
                d.grantee.as_str(),
                d.kind,
                d.issue(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Archive",
                "-robert@new.example",
                DifferenceKind::Missing,
                "missing at the destination".to_owned()
            ),
            (
                "Projects",
                "eve@new.example",
                DifferenceKind::Extra,
                "extra at the destination".to_owned()
            ),
            (
                "Projects",
                "robert@new.example",
                DifferenceKind::Changed,
                "changed at the destination: source lrs, destination lr".to_owned()
            ),
        ]
    );
    assert_eq!(c.grants, 5);
    let mut all = compare_permissions(&inv, &destination(faithful()), &plan(&inv));
    all.merge(c);
    assert_eq!(all.to_review().differences.len(), 3);
}

#[tokio::test]
async fn views_are_read_and_compared() {
    let src: Vec<FolderAcl> = vec![FolderAcl::new("INBOX", "bo", "lr")];
    let dst: Vec<FolderAcl> = vec![FolderAcl::new("INBOX", "bo", "lr")];
    let c = compare_acl_views("ann@x.example", &src, &dst, &AclMapping::new())
        .await
        .unwrap();
    assert!(c.is_clean());
    assert_eq!(c.grants, 1);
}
