import { IAM_USER_NAME_MAX_CHARS } from "../../core/limits";
import {
  iamUserName,
  iamUserNameFromArn,
  smtpSendingPolicy,
  smtpUserItemSchema,
  validateAllowedFrom,
  validateSmtpUsername,
} from "../../core/smtp-credentials";

describe("SMTP users", () => {
  it("names the IAM user after the username and a UTC timestamp, within IAM's 64 characters", () => {
    const at = new Date("2026-11-28T10:11:12.999Z");
    expect(iamUserName("app-mailer", at)).toBe("ses-smtp-user-app-mailer-20261128101112");
    expect(iamUserName("a".repeat(35), at).length).toBe(IAM_USER_NAME_MAX_CHARS);
  });

  it.each(["", "a".repeat(36), "-leading", "trailing.", "has space", "slash/name", "ümlaut", "a+b"])(
    "refuses the username %j",
    (username) => {
      expect(() => validateSmtpUsername(username)).toThrow(expect.objectContaining({ code: "INVALID_SMTP_USER" }));
    },
  );

  it("allows only the listed From addresses, with StringLike patterns for whole domains", () => {
    const policy = JSON.parse(smtpSendingPolicy(validateAllowedFrom(["app@example.com", " *@notify.example.com ", "app@example.com"])));
    expect(policy).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "SendFromAllowedAddresses",
          Effect: "Allow",
          Action: ["ses:SendEmail", "ses:SendRawEmail"],
          Resource: "*",
          Condition: { StringLike: { "ses:FromAddress": ["app@example.com", "*@notify.example.com"] } },
        },
      ],
    });
  });

  it("denies all sending when allowed_from is empty", () => {
    expect(JSON.parse(smtpSendingPolicy([])).Statement).toEqual([
      { Sid: "NoSendingAllowed", Effect: "Deny", Action: ["ses:SendEmail", "ses:SendRawEmail"], Resource: "*" },
    ]);
  });

  it.each(["*", "*@*", "app@*.example.com", "not-an-address", "a@b"])("refuses the allowed_from entry %j", (entry) => {
    expect(() => validateAllowedFrom([entry])).toThrow(/neither an address nor \*@domain/);
  });

  it("refuses an allowed_from list whose policy would exceed IAM's 2,048 characters", () => {
    const many = Array.from({ length: 80 }, (_, i) => `sender-${i}@example.com`);
    expect(() => smtpSendingPolicy(validateAllowedFrom(many))).toThrow(/IAM allows 2048/);
  });

  it("reads an item with allowed_from as a list or a string set, and finds the IAM user name from its ARN", () => {
    const schema = smtpUserItemSchema();
    const parsed = schema.parse({
      PK: "SMTP_USER#app",
      SK: "CREDENTIALS#v1",
      username: "app",
      allowed_from: new Set(["a@example.com"]),
      status: "active",
      iam_user_arn: "arn:aws:iam::123456789012:user/ses-smtp-user-app-20261128101112",
    });
    expect(parsed).toEqual({
      username: "app",
      allowedFrom: ["a@example.com"],
      status: "active",
      iamUserArn: "arn:aws:iam::123456789012:user/ses-smtp-user-app-20261128101112",
      iamUserName: "ses-smtp-user-app-20261128101112",
    });
    expect(schema.safeParse({ PK: "SMTP_USER#app", SK: "CREDENTIALS#v1", username: "other", status: "pending" })).toMatchObject({
      success: false,
    });
    expect(iamUserNameFromArn("arn:aws:iam::123456789012:user/path/to/name")).toBe("name");
    expect(iamUserNameFromArn("arn:aws:iam::123456789012:role/name")).toBeUndefined();
  });
});
