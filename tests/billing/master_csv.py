"""Master.csv lines as Asterisk's cdr_csv writes them, for the import tests."""


def row(uniqueid, *, account="ozark", direction="outbound", answered=True, src=None, dst=None):
    """One Master.csv line as Asterisk's cdr_csv writes it."""
    src = src or ("5015550123" if direction == "inbound" else "5015550100")
    dst = dst or ("5015550100" if direction == "inbound" else "5015550123")
    answer = "2026-11-10 15:00:05" if answered else ""
    billsec, disposition = (61, "ANSWERED") if answered else (0, "NO ANSWER")
    end = "2026-11-10 15:01:06" if answered else "2026-11-10 15:00:30"
    return (
        f'"{account}","{src}","{dst}","{account}-{direction}","","PJSIP/{account}-101-1",'
        f'"PJSIP/carrier-a-2","Dial","","2026-11-10 15:00:00","{answer}","{end}",'
        f'{billsec + 5},{billsec},"{disposition}","DOCUMENTATION","{uniqueid}",""\n'
    )
