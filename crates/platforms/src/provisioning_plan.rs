//! IdentityIQ ProvisioningPlan XML, written with quick-xml so every name and value is escaped.

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

/// What an `AccountRequest` does to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOp {
    /// Change attributes.
    Modify,
    /// Enable the account.
    Enable,
}

/// What an `AttributeRequest` does to the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeOp {
    /// Add the values (an entitlement).
    Add,
    /// Replace the values.
    Set,
}

/// One attribute request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRequest {
    /// The account attribute.
    pub name: String,
    /// Add or set.
    pub op: AttributeOp,
    /// Its values: one is written as `value="…"`, several (or none) as a `<List>`.
    pub values: Vec<String>,
}

/// A plan with one account request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningPlan {
    /// The identity's name in IdentityIQ.
    pub identity: String,
    /// The application.
    pub application: String,
    /// The account's native identity in the application.
    pub native_identity: String,
    /// The account request's operation.
    pub op: AccountOp,
    /// Its attribute requests.
    pub attributes: Vec<AttributeRequest>,
    /// The plan's `trackingId`: provhost's idempotency key of the action it carries out.
    pub tracking_id: Option<String>,
}

impl ProvisioningPlan {
    /// The plan as IdentityIQ reads it.
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        self.write(&mut writer).expect("writing XML into memory cannot fail");
        String::from_utf8(writer.into_inner()).expect("quick-xml writes UTF-8 from UTF-8 input")
    }

    fn write(&self, writer: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let op = match self.op {
            AccountOp::Modify => "Modify",
            AccountOp::Enable => "Enable",
        };
        let mut plan = BytesStart::new("ProvisioningPlan");
        if let Some(tracking) = &self.tracking_id {
            plan.push_attribute(("trackingId", tracking.as_str()));
        }
        writer.write_event(Event::Start(plan.with_attributes([("nativeIdentity", self.identity.as_str())])))?;
        writer.write_event(Event::Start(BytesStart::new("AccountRequest").with_attributes([
            ("application", self.application.as_str()),
            ("nativeIdentity", self.native_identity.as_str()),
            ("op", op),
        ])))?;
        for request in &self.attributes {
            request.write(writer)?;
        }
        writer.write_event(Event::End(BytesEnd::new("AccountRequest")))?;
        writer.write_event(Event::End(BytesEnd::new("ProvisioningPlan")))
    }
}

impl AttributeRequest {
    fn write(&self, writer: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let op = match self.op {
            AttributeOp::Add => "Add",
            AttributeOp::Set => "Set",
        };
        let start = BytesStart::new("AttributeRequest").with_attributes([("name", self.name.as_str()), ("op", op)]);
        if let [value] = self.values.as_slice() {
            return writer.write_event(Event::Empty(start.with_attributes([("value", value.as_str())])));
        }
        writer.write_event(Event::Start(start))?;
        writer.write_event(Event::Start(BytesStart::new("Value")))?;
        writer.write_event(Event::Start(BytesStart::new("List")))?;
        for value in &self.values {
            writer.write_event(Event::Start(BytesStart::new("String")))?;
            writer.write_event(Event::Text(BytesText::new(value)))?;
            writer.write_event(Event::End(BytesEnd::new("String")))?;
        }
        writer.write_event(Event::End(BytesEnd::new("List")))?;
        writer.write_event(Event::End(BytesEnd::new("Value")))?;
        writer.write_event(Event::End(BytesEnd::new("AttributeRequest")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_enforce_plan_adds_the_entitlement_with_values_escaped() {
        let plan = ProvisioningPlan {
            identity: "Aaron <Anderson> & Co".into(),
            application: "Active Directory".into(),
            native_identity: "CN=Aaron \"A\",OU=Users,DC=contoso,DC=local".into(),
            op: AccountOp::Modify,
            attributes: vec![AttributeRequest {
                name: "memberOf".into(),
                op: AttributeOp::Add,
                values: vec!["CN=Sales & Marketing,OU=Groups".into()],
            }],
            tracking_id: Some("provhost-a&1".into()),
        };
        let xml = plan.to_xml();
        assert!(
            xml.contains(
                r#"<ProvisioningPlan trackingId="provhost-a&amp;1" nativeIdentity="Aaron &lt;Anderson&gt; &amp; Co">"#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"nativeIdentity="CN=Aaron &quot;A&quot;,OU=Users,DC=contoso,DC=local" op="Modify""#));
        assert!(
            xml.contains(r#"<AttributeRequest name="memberOf" op="Add" value="CN=Sales &amp; Marketing,OU=Groups"/>"#)
        );
    }

    #[test]
    fn several_values_are_written_as_a_list() {
        let plan = ProvisioningPlan {
            identity: "aaron".into(),
            application: "Exchange".into(),
            native_identity: "aaron@contoso.com".into(),
            op: AccountOp::Modify,
            attributes: vec![AttributeRequest {
                name: "proxyAddresses".into(),
                op: AttributeOp::Set,
                values: vec!["SMTP:a@contoso.com".into(), "smtp:<b>@contoso.com".into()],
            }],
            tracking_id: None,
        };
        let xml = plan.to_xml();
        let list = "<Value>\n        <List>\n          <String>SMTP:a@contoso.com</String>\n          <String>smtp:&lt;b&gt;@contoso.com</String>";
        assert!(xml.contains(list), "{xml}");
    }
}
