def test_openapi_spec_is_served(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Trunkline API"
    assert response["X-Request-Id"]
