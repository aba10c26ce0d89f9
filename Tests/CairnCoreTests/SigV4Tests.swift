import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Signature Version 4 against AWS's published vectors (the aws-sig-v4-test-suite cases and
/// the S3 documentation's examples), and against botocore's own signer on requests of the
/// kinds the S3 backend sends.
@Suite("Signature V4: AWS's test vectors and botocore")
struct SigV4Tests {
    static let suite = SigV4Signer(
        credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1", service: "service")
    /// 2015-08-30T12:36:00Z, the suite's time.
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)

    struct Vector: Sendable, CustomStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(name: String, value: String)] = []
        var headers: [(name: String, value: String)] = []
        var body = ""
        var signature: String
        var description: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "get-vanilla", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(
            name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(
            name: "get-vanilla-query-order-value", query: [("Param1", "value2"), ("Param1", "value1")],
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
        Vector(
            name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(
            name: "post-x-www-form-urlencoded", method: "POST", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ]

    @Test(arguments: vectors)
    func theSuitesVectors(vector: Vector) {
        let request = SigV4Signer.Request(
            method: vector.method, path: vector.path, query: vector.query, headers: [("Host", "example.amazonaws.com")] + vector.headers,
            payloadHash: SigV4Signer.hex(Hashing.sha256(Array(vector.body.utf8))))
        let added = Self.suite.sign(request, at: Self.suiteDate)
        #expect(added.first { $0.name == "x-amz-date" }?.value == "20150830T123600Z")
        let authorization = added.first { $0.name == "authorization" }?.value ?? ""
        let signedHeaders = vector.headers.isEmpty ? "host;x-amz-date" : "content-type;host;x-amz-date"
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(vector.signature)"
        )
    }

    @Test func theSuitesCanonicalRequestIsSortedByteByByte() {
        let request = SigV4Signer.Request(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
            headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")], payloadHash: SigV4Signer.emptyPayloadHash)
        let canonical = SigV4Signer.canonicalRequest(request).text
        #expect(
            canonical
                == "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(SigV4Signer.emptyPayloadHash)"
        )
        #expect(SigV4Signer.hex(Hashing.sha256(Array(canonical.utf8))) == "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0")
    }

    /// The S3 documentation's GET Object example: the first 10 bytes of examplebucket/test.txt.
    @Test func theS3DocumentationsGetObjectExample() {
        let signer = SigV4Signer(
            credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1")
        let request = SigV4Signer.Request(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash)
        let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
        let (canonical, _) = SigV4Signer.canonicalRequest(
            SigV4Signer.Request(
                method: request.method, path: request.path, headers: request.headers + [("x-amz-date", "20130524T000000Z")], payloadHash: request.payloadHash))
        #expect(SigV4Signer.hex(Hashing.sha256(Array(canonical.utf8))) == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        let authorization = signer.sign(request, at: date).first { $0.name == "authorization" }?.value
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
    }

    @Test func encodingKeepsOnlyUnreservedCharacters() {
        #expect(SigV4Signer.encode("a b+c/d~e_f.g-h*") == "a%20b%2Bc%2Fd~e_f.g-h%2A")
        #expect(SigV4Signer.encode("data/ab/x y", keepSlash: true) == "data/ab/x%20y")
        #expect(SigV4Signer.encode("\u{1234}") == "%E1%88%B4")
    }

    /// botocore (the signer of the AWS CLI and boto3) signs S3 requests like the backend's;
    /// ours must give the same Authorization for each, at the time botocore signed.
    @Test func botocoreSignsTheSame() throws {
        let script = #"""
            import json, sys
            from botocore.auth import S3SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            out = []
            for case in json.load(open(sys.argv[1])):
                creds = Credentials(case["access"], case["secret"], case.get("token"))
                request = AWSRequest(method=case["method"], url=case["url"], headers=case["headers"], data=case["body"].encode())
                S3SigV4Auth(creds, "s3", case["region"]).add_auth(request)
                out.append({"date": request.headers["X-Amz-Date"], "authorization": request.headers["Authorization"]})
            print(json.dumps(out))
            """#
        struct Case: Codable {
            var access, secret: String
            var token: String?
            var region, method, url: String
            var path: String
            var query: [[String]]
            var headers: [String: String]
            var body: String
        }
        let host = "127.0.0.1:9000"
        let hash = { (body: String) in SigV4Signer.hex(Hashing.sha256(Array(body.utf8))) }
        func make(_ method: String, _ key: String, _ query: [[String]], headers: [String: String] = [:], body: String = "", token: String? = nil) -> Case {
            let path = "/bucket/" + SigV4Signer.encode(key, keepSlash: true)
            let queryText = query.map { SigV4Signer.encode($0[0]) + "=" + SigV4Signer.encode($0[1]) }.joined(separator: "&")
            var all = headers
            all["x-amz-content-sha256"] = hash(body)
            return Case(
                access: "AKIDTEST", secret: "se/cr+et=key", token: token, region: "eu-central-1", method: method,
                url: "http://\(host)\(path)\(queryText.isEmpty ? "" : "?" + queryText)", path: path, query: query, headers: all, body: body)
        }
        let cases = [
            make("GET", "data/ab/abcdef", [], headers: ["Range": "bytes=0-1023"]),
            make("PUT", "snapshots/2026 11 29 é+x", [], headers: ["If-None-Match": "*", "Content-Type": "application/octet-stream"], body: "payload"),
            make("GET", "", [["list-type", "2"], ["prefix", "data/a b/"], ["continuation-token", "1/2+3=="], ["max-keys", "1000"]]),
            make("DELETE", "locks/lease~1", [], token: "FQoGZXIvYXdzEPr//////////wEaDKx+/token"),
            make("POST", "", [["delete", ""]], headers: ["Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="], body: "<Delete></Delete>"),
        ]
        let directory = try TemporaryDirectory()
        let input = directory.path + "/cases.json"
        try JSONEncoder().encode(cases).write(to: URL(fileURLWithPath: input))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, input]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "botocore is needed (pip install botocore): \(complaint)")
        let answers = try #require(try JSONSerialization.jsonObject(with: printed) as? [[String: String]])
        try #require(answers.count == cases.count)
        for (index, test) in cases.enumerated() {
            let stamp = answers[index]["date"]!
            let date = try #require(Self.date(stamp))
            let signer = SigV4Signer(credentials: .init(accessKey: test.access, secretKey: test.secret, sessionToken: test.token), region: test.region)
            let request = SigV4Signer.Request(
                method: test.method, path: test.path, query: test.query.map { ($0[0], $0[1]) },
                headers: [("host", host)] + test.headers.map { ($0.key, $0.value) }, payloadHash: test.headers["x-amz-content-sha256"]!)
            let ours = signer.sign(request, at: date).first { $0.name == "authorization" }?.value
            #expect(ours == answers[index]["authorization"], "\(test.method) \(test.url)")
        }
    }

    static func date(_ stamp: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: stamp)
    }
}
