//! The page's lists: items left behind, inventory, the optional sections (verification,
//! permissions, probes, DNS) and the timeline table.

use std::fmt::Write as _;

use super::html::{absent, head, td, time_json};
use super::text::{figure, Format};
use super::CampaignReport;

pub(super) fn items(s: &mut String, r: &CampaignReport) {
    s.push_str("<section class=\"card\" id=\"items\"><h2>Skipped and failed items</h2>");
    if r.items.is_empty() {
        s.push_str("<p class=\"muted\">Every item was migrated.</p></section>");
        return;
    }
    s.push_str("<table>");
    s.push_str(&head(&[
        "Mailbox", "Folder", "Item", "Outcome", "Kind", "Reason",
    ]));
    s.push_str("<tbody>");
    for (i, it) in r.items.iter().enumerate() {
        let p = |f: &str| format!("/items/{i}/{f}");
        let _ = write!(
            s,
            "<tr class=\"item {}\">{}{}{}<td>{}</td>{}{}</tr>",
            it.outcome.as_str(),
            figure("td", "addr", &p("mailbox"), &it.mailbox, Format::Plain),
            figure("td", "", &p("folder"), &it.folder, Format::Plain),
            figure("td", "", &p("item"), &it.item, Format::Plain),
            figure(
                "span",
                &format!("pill outcome-{}", it.outcome.as_str()),
                &p("outcome"),
                &it.outcome,
                Format::Plain
            ),
            figure("td", "", &p("kind"), &it.kind, Format::Plain),
            figure("td", "reason", &p("reason"), &it.reason, Format::Plain),
        );
    }
    s.push_str("</tbody></table></section>");
}

pub(super) fn inventory(s: &mut String, r: &CampaignReport) {
    let inv = &r.inventory;
    let _ =
        write!(
        s,
        "<section class=\"card\"><h2>Inventory</h2><p>{} accounts in the directory, {} in this \
         campaign; {} messages and {} of mail counted before the move.</p><table>",
        figure("span", "", "/inventory/accounts", &inv.accounts, Format::Plain),
        figure("span", "", "/inventory/in_campaign", &inv.in_campaign, Format::Plain),
        figure("span", "", "/inventory/messages", &inv.messages, Format::Plain),
        figure("span", "", "/inventory/bytes", &inv.bytes, Format::Bytes),
    );
    s.push_str(&head(&[
        "Mailbox", "Name", "Messages", "Data", "Contacts", "Events", "Copied",
    ]));
    s.push_str("<tbody>");
    for (i, m) in inv.mailboxes.iter().enumerate() {
        let p = |f: &str| format!("/inventory/mailboxes/{i}/{f}");
        let copied = r
            .mailboxes
            .iter()
            .position(|x| x.mailbox == m.mailbox)
            .map(|j| {
                td(
                    &format!("/mailboxes/{j}/volume/items_copied"),
                    &r.mailboxes[j].volume.items_copied,
                    Format::Plain,
                )
            })
            .unwrap_or_else(|| "<td>—</td>".to_owned());
        let _ = write!(
            s,
            "<tr>{}{}{}{}{}{}{copied}</tr>",
            figure("td", "addr", &p("mailbox"), &m.mailbox, Format::Plain),
            figure("td", "", &p("name"), &m.name, Format::Plain),
            td(&p("messages"), &m.messages, Format::Plain),
            td(&p("bytes"), &m.bytes, Format::Bytes),
            td(&p("contacts"), &m.contacts, Format::Plain),
            td(&p("events"), &m.events, Format::Plain),
        );
    }
    s.push_str("</tbody></table></section>");
}

pub(super) fn verification(s: &mut String, r: &CampaignReport) {
    s.push_str("<section class=\"card\" id=\"verification\"><h2>Verification</h2>");
    let Some(list) = &r.verification else {
        s.push_str(&absent("final comparison"));
        s.push_str("</section>");
        return;
    };
    s.push_str("<table>");
    s.push_str(&head(&[
        "Mailbox",
        "Result",
        "Folders",
        "Matched",
        "Differences",
        "Details",
    ]));
    s.push_str("<tbody>");
    for (i, v) in list.iter().enumerate() {
        let p = |f: &str| format!("/verification/{i}/{f}");
        let details: Vec<String> = v
            .details
            .iter()
            .enumerate()
            .map(|(j, d)| {
                format!(
                    "<li>{}</li>",
                    figure("span", "", &p(&format!("details/{j}")), d, Format::Plain)
                )
            })
            .collect();
        let _ = write!(
            s,
            "<tr>{}<td><span class=\"pill {}\">{}</span></td>{}{}{}<td><ul class=\"details\">{}</ul></td></tr>",
            figure("td", "addr", &p("mailbox"), &v.mailbox, Format::Plain),
            if v.clean { "stage-validated" } else { "stage-failed" },
            if v.clean { "clean" } else { "differs" },
            td(&p("folders"), &v.folders, Format::Plain),
            td(&p("matched"), &v.matched, Format::Plain),
            td(&p("differences"), &v.differences, Format::Plain),
            details.join("")
        );
    }
    s.push_str("</tbody></table></section>");
}

pub(super) fn permissions(s: &mut String, r: &CampaignReport) {
    s.push_str("<section class=\"card\" id=\"permissions\"><h2>Permissions</h2>");
    let Some(review) = &r.permissions else {
        s.push_str(&absent("permission review"));
        s.push_str("</section>");
        return;
    };
    let _ = write!(
        s,
        "<p>{} grants compared, {} differ.</p>",
        figure(
            "span",
            "",
            "/permissions/checked",
            &review.checked,
            Format::Plain
        ),
        review.differences.len()
    );
    if review.differences.is_empty() {
        s.push_str("</section>");
        return;
    }
    s.push_str("<table>");
    s.push_str(&head(&[
        "Mailbox",
        "Grantee",
        "Right",
        "Folder",
        "Difference",
    ]));
    s.push_str("<tbody>");
    for (i, d) in review.differences.iter().enumerate() {
        let p = |f: &str| format!("/permissions/differences/{i}/{f}");
        let _ = write!(
            s,
            "<tr>{}{}{}{}{}</tr>",
            figure("td", "addr", &p("mailbox"), &d.mailbox, Format::Plain),
            figure("td", "addr", &p("grantee"), &d.grantee, Format::Plain),
            figure("td", "", &p("right"), &d.right, Format::Plain),
            figure("td", "", &p("folder"), &d.folder, Format::Plain),
            figure("td", "reason", &p("issue"), &d.issue, Format::Plain),
        );
    }
    s.push_str("</tbody></table></section>");
}

pub(super) fn probes(s: &mut String, r: &CampaignReport) {
    s.push_str("<section class=\"card\" id=\"probes\"><h2>Send-and-receive probes</h2>");
    let Some(list) = &r.probes else {
        s.push_str(&absent("send-and-receive probe"));
        s.push_str("</section>");
        return;
    };
    s.push_str("<table>");
    s.push_str(&head(&[
        "Mailbox",
        "Result",
        "Sent",
        "Arrived after",
        "Error",
    ]));
    s.push_str("<tbody>");
    for (i, p) in list.iter().enumerate() {
        let q = |f: &str| format!("/probes/{i}/{f}");
        let _ = write!(
            s,
            "<tr>{}<td><span class=\"pill {}\">{}</span></td>{}{}{}</tr>",
            figure("td", "addr", &q("mailbox"), &p.mailbox, Format::Plain),
            if p.ok {
                "stage-validated"
            } else {
                "stage-failed"
            },
            if p.ok { "arrived" } else { "failed" },
            td(&q("sent_at"), &p.sent_at, Format::Time),
            td(
                &q("found_after_secs"),
                &p.found_after_secs,
                Format::Duration
            ),
            figure("td", "reason", &q("error"), &p.error, Format::Plain),
        );
    }
    s.push_str("</tbody></table></section>");
}

pub(super) fn dns(s: &mut String, r: &CampaignReport) {
    s.push_str("<section class=\"card\" id=\"dns\"><h2>DNS</h2>");
    let Some(domains) = &r.dns else {
        s.push_str(&absent("DNS check"));
        s.push_str("</section>");
        return;
    };
    for (i, d) in domains.iter().enumerate() {
        let p = |f: &str| format!("/dns/{i}/{f}");
        let _ = write!(
            s,
            "<h3>{}</h3>",
            figure("span", "", &p("domain"), &d.domain, Format::Plain)
        );
        for (j, w) in d.warnings.iter().enumerate() {
            let _ = write!(
                s,
                "<p class=\"warning\">⚠ {}</p>",
                figure("span", "", &p(&format!("warnings/{j}")), w, Format::Plain)
            );
        }
        s.push_str("<table>");
        s.push_str(&head(&[
            "Type", "Name", "Value", "TTL", "Expected", "State",
        ]));
        s.push_str("<tbody>");
        for (j, rec) in d.records.iter().enumerate() {
            let q = |f: &str| p(&format!("records/{j}/{f}"));
            let _ = write!(
                s,
                "<tr>{}{}{}{}{}<td><span class=\"pill {}\">{}</span></td></tr>",
                figure("td", "", &q("kind"), &rec.kind, Format::Plain),
                figure("td", "addr", &q("name"), &rec.name, Format::Plain),
                figure("td", "addr", &q("value"), &rec.value, Format::Plain),
                td(&q("ttl"), &rec.ttl, Format::Plain),
                figure("td", "addr", &q("expected"), &rec.expected, Format::Plain),
                if rec.ok {
                    "stage-validated"
                } else {
                    "stage-failed"
                },
                if rec.ok { "ok" } else { "needs change" },
            );
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("</section>");
}

pub(super) fn timeline(s: &mut String, r: &CampaignReport) {
    let _ = write!(
        s,
        "<section class=\"card\" id=\"timeline\"><details><summary>Progress timeline ({} \
         points)</summary><table>",
        r.timeline.len()
    );
    s.push_str(&head(&["Time", "Synced", "Validated", "Failed"]));
    s.push_str("<tbody>");
    for (i, t) in r.timeline.iter().enumerate() {
        let p = |f: &str| format!("/timeline/{i}/{f}");
        let _ = write!(
            s,
            "<tr>{}{}{}{}</tr>",
            td(&p("at"), &time_json(Some(t.at)), Format::Time),
            td(&p("synced"), &t.synced, Format::Plain),
            td(&p("validated"), &t.validated, Format::Plain),
            td(&p("failed"), &t.failed, Format::Plain),
        );
    }
    s.push_str("</tbody></table></details></section>");
}
