from ninja import Router

router = Router(tags=["Phone numbers"])
