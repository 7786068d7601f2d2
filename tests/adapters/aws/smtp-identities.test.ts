/**
 * The IAM side of the credential manager: listing a user's access keys and inline policies follows IAM's
 * pages to the end (a user left with keys or policies on a second page must still be cleaned up), and a
 * user that is already gone lists as empty.
 */
import { IAMClient, ListAccessKeysCommand, ListUserPoliciesCommand, NoSuchEntityException } from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { IamSmtpIdentities } from "../../../adapters/aws/smtp-identities";

const client = new IAMClient({ region: "eu-west-2", credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test" } });
const iam = mockClient(client);

afterEach(() => iam.reset());

describe("IamSmtpIdentities", () => {
  it("lists every access key and inline policy across IAM's pages", async () => {
    // Prepare: two pages each, as IAM answers with IsTruncated and a Marker.
    const markers: Array<string | undefined> = [];
    iam.on(ListAccessKeysCommand).callsFake((input: { Marker?: string }) => {
      markers.push(input.Marker);
      return input.Marker === "keys-2"
        ? { AccessKeyMetadata: [{ AccessKeyId: "AKIASECOND" }], IsTruncated: false }
        : { AccessKeyMetadata: [{ AccessKeyId: "AKIAFIRST" }], IsTruncated: true, Marker: "keys-2" };
    });
    iam
      .on(ListUserPoliciesCommand)
      .callsFake((input: { Marker?: string }) =>
        input.Marker === "policies-2"
          ? { PolicyNames: ["second"], IsTruncated: false }
          : { PolicyNames: ["first"], IsTruncated: true, Marker: "policies-2" },
      );
    const identities = new IamSmtpIdentities({ client });

    // Act
    const keys = await identities.listAccessKeys("ses-smtp-user-alice-1");
    const policies = await identities.listUserPolicies("ses-smtp-user-alice-1");

    // Assess
    expect(keys).toEqual(["AKIAFIRST", "AKIASECOND"]);
    expect(policies).toEqual(["first", "second"]);
    expect(markers).toEqual([undefined, "keys-2"]);
  });

  it("lists nothing for a user that no longer exists", async () => {
    // Prepare
    const gone = new NoSuchEntityException({ message: "The user with name x cannot be found.", $metadata: {} });
    iam.on(ListAccessKeysCommand).rejects(gone);
    iam.on(ListUserPoliciesCommand).rejects(gone);
    const identities = new IamSmtpIdentities({ client });

    // Act / Assess
    await expect(identities.listAccessKeys("ses-smtp-user-gone-1")).resolves.toEqual([]);
    await expect(identities.listUserPolicies("ses-smtp-user-gone-1")).resolves.toEqual([]);
  });
});
